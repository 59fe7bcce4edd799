// `fedserve export` usage, apart from the command so that `fedserve help` loads no TensorFlow.js.
export const EXPORT_USAGE = `fedserve export --data-dir DIR --out DIR [--version N] [--dtype float32|uint16|uint8] [--prune F]

  --data-dir DIR  the coordinator's data dir (its committed versions)
  --out DIR       where model.json and weights.bin are written (tf.loadLayersModel('.../model.json') loads them)
  --version N     the version to export (default: the latest that verifies)
  --dtype NAME    weight storage: float32 (default), uint16 or uint8, quantized per tensor in tfjs's
                  standard weightsManifest quantization fields, which tf.loadLayersModel dequantizes
  --prune F       magnitude pruning first: zero the fraction F of each kernel's smallest weights`;
