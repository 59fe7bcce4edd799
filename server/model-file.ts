import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';

/**
 * Loads a tfjs Layers model from disk (model.json plus the weight files its manifest names), the
 * way tf.loadLayersModel('file://...') would with tfjs-node, but without needing it.
 */
export async function loadModelFile(path: string): Promise<tf.LayersModel> {
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw new Error(`cannot load model ${path}: ${(e as Error).message}`);
  }
  if (
    typeof json !== 'object' ||
    json === null ||
    typeof json.modelTopology !== 'object' ||
    !Array.isArray(json.weightsManifest)
  ) {
    throw new Error(`${path} is not a tfjs Layers model.json (it needs modelTopology and weightsManifest)`);
  }
  const dir = dirname(resolve(path));
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const file of group.paths) {
      let data: Buffer;
      try {
        data = await readFile(resolve(dir, file));
      } catch (e) {
        throw new Error(`cannot read weight file ${file} of ${path}: ${(e as Error).message}`);
      }
      buffers.push(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
    }
  }
  const weightData = tf.io.CompositeArrayBuffer.join(buffers);
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
  } catch (e) {
    throw new Error(`cannot build the model in ${path}: ${(e as Error).message}`);
  }
}
