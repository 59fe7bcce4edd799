import { z } from 'zod';
import type { WeightSpec } from '../../shared/model/weights.js';

/** A model as topology + flat float32 weights: what is checkpointed, served and loaded. */
export interface ModelArtifact {
  /** The Layers model topology, as `model.toJSON(null, false)` returns it. */
  modelTopology: object;
  weightSpecs: WeightSpec[];
  /** All weights concatenated in weightSpecs order (little-endian float32 on disk). */
  weights: Float32Array;
}

const WeightEntrySchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.literal('float32'),
});

/** The subset of tfjs's model.json that fedserve writes and reads back. */
export const TfjsModelJsonSchema = z.object({
  format: z.literal('layers-model'),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z
    .array(z.object({ paths: z.array(z.string()).length(1), weights: z.array(WeightEntrySchema) }))
    .length(1),
});
export type TfjsModelJson = z.infer<typeof TfjsModelJsonSchema> & { generatedBy: string; convertedBy: null };

/**
 * model.json exactly as `tf.loadLayersModel(url)` expects it: one weights group whose single file
 * is `weightsPath`, resolved by tfjs relative to the model.json URL.
 */
export function tfjsModelJson(
  artifact: Pick<ModelArtifact, 'modelTopology' | 'weightSpecs'>,
  weightsPath: string,
): TfjsModelJson {
  return {
    format: 'layers-model',
    generatedBy: 'fedserve',
    convertedBy: null,
    modelTopology: artifact.modelTopology as Record<string, unknown>,
    weightsManifest: [
      {
        paths: [weightsPath],
        weights: artifact.weightSpecs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' as const })),
      },
    ],
  };
}
