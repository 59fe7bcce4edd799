import * as tf from '@tensorflow/tfjs';
import { convReluPool2x2, convReluPoolAvailable, type ConvReluPoolAttrs } from '../engine/wasm/conv-relu-pool.js';

/** A Conv2D layer followed by a pooling layer that convReluPool2x2 computes in one op. */
interface FusedPair {
  conv: tf.layers.Layer;
  attrs: ConvReluPoolAttrs;
}

function pair(arg: number | number[] | undefined, fallback: number): [number, number] {
  if (arg === undefined) return [fallback, fallback];
  return typeof arg === 'number' ? [arg, arg] : [arg[0], arg[1] ?? arg[0]];
}

/**
 * conv (ReLU, bias, NHWC, no dilation) then 2x2 / stride 2 'valid' max pooling (NHWC): the
 * attributes of the fused op, else undefined.
 */
function fusable(conv: tf.layers.Layer, pool: tf.layers.Layer | undefined): FusedPair | undefined {
  if (conv.getClassName() !== 'Conv2D' || pool?.getClassName() !== 'MaxPooling2D') return undefined;
  const c = conv.getConfig();
  const p = pool.getConfig();
  const dilation = pair(c.dilationRate as number | number[] | undefined, 1);
  const poolSize = pair(p.poolSize as number | number[] | undefined, 2);
  const poolStrides = pair((p.strides ?? p.poolSize) as number | number[] | undefined, 2);
  const ok =
    c.activation === 'relu' &&
    c.useBias === true &&
    c.dataFormat === 'channelsLast' &&
    (c.padding === 'valid' || c.padding === 'same') &&
    dilation[0] === 1 &&
    dilation[1] === 1 &&
    conv.weights.length === 2 &&
    p.padding === 'valid' &&
    p.dataFormat === 'channelsLast' &&
    [...poolSize, ...poolStrides].every((v) => v === 2);
  if (!ok) return undefined;
  return {
    conv,
    attrs: { strides: pair(c.strides as number | number[] | undefined, 1), pad: c.padding as 'valid' | 'same' },
  };
}

/**
 * The model's output in training mode, as model.apply(xs, { training: true }) computes it, with
 * every Conv2D (ReLU) + 2x2 MaxPooling2D pair of a Sequential model as one fused op where the
 * backend has it (wasm): 4 kernels and 3 full-size intermediate tensors fewer per pair forward,
 * 3 passes fewer backward. Anything else is model.apply.
 */
export function applyForTraining(model: tf.LayersModel, xs: tf.Tensor): tf.Tensor {
  const layers = model.layers;
  const pairs = layers.map((layer, i) => fusable(layer, layers[i + 1]));
  if (!(model instanceof tf.Sequential) || xs.rank !== 4 || !pairs.some(Boolean) || !convReluPoolAvailable())
    return model.apply(xs, { training: true }) as tf.Tensor;
  let x = xs;
  for (let i = 0; i < layers.length; i++) {
    const fused = pairs[i];
    // An explicit InputLayer (models built with one, or read back from JSON) passes its input on.
    if (layers[i].getClassName() === 'InputLayer') continue;
    if (fused) {
      const [kernel, bias] = fused.conv.weights.map((w) => w.read());
      x = convReluPool2x2(x as tf.Tensor4D, kernel as tf.Tensor4D, bias as tf.Tensor1D, fused.attrs);
      i++;
    } else {
      x = layers[i].apply(x, { training: true }) as tf.Tensor;
    }
  }
  return x;
}
