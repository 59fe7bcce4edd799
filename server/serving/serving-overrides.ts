import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { nodeSyncFileSystem, removeTempFilesSync, replaceFileSync, type SyncFileSystem } from '../store/atomic-file.js';
import { LABEL_PATTERN } from './model-registry.js';
import { VersionPolicySchema, type VersionPolicy } from './version-policy.js';

const Label = z.string().regex(LABEL_PATTERN);
const OverridesFile = z.strictObject({
  labels: z.strictObject({
    /** Labels set (or moved) over REST, with their version. */
    set: z.record(Label, z.int().min(0)),
    /** Labels removed over REST, so a label of the config stays removed after a restart. */
    removed: z.array(Label),
  }),
  /** The version policy set over REST, which replaces the config's. */
  policy: VersionPolicySchema.optional(),
});
type OverrideRecord = z.infer<typeof OverridesFile>;

/**
 * The serving changes made over REST (version labels and the version policy), kept in the data dir
 * so that a restarted server serves what it served before. The config's `serving.versionLabels` and
 * `serving.versionPolicy` apply at every start and these changes on top of them, so editing the
 * config still moves a label nobody changed over REST. Every change is written durably (temp file,
 * fsync, rename, directory fsync) before it counts.
 */
export class ServingOverrides {
  private constructor(
    readonly path: string,
    private record: OverrideRecord,
    private readonly fsys: SyncFileSystem,
  ) {}

  /** Reads `path` (none yet: no changes); refuses a file it cannot read, naming it and why. */
  static load(path: string, fsys: SyncFileSystem = nodeSyncFileSystem): ServingOverrides {
    removeTempFilesSync(path, fsys);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return new ServingOverrides(path, { labels: { set: {}, removed: [] } }, fsys);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`serving overrides file ${path} is not JSON (${(e as Error).message}): fix or remove it`);
    }
    const parsed = OverridesFile.safeParse(json);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new Error(`serving overrides file ${path} is invalid (${why}): fix or remove it`);
    }
    return new ServingOverrides(path, parsed.data, fsys);
  }

  /** The labels to serve: the config's, then the changes made over REST. */
  labels(configured: Readonly<Record<string, number>>): Record<string, number> {
    const removed = new Set(this.record.labels.removed);
    const kept = Object.entries(configured).filter(([label]) => !removed.has(label));
    return { ...Object.fromEntries(kept), ...this.record.labels.set };
  }

  /** The version policy to serve: the one set over REST, else the config's. */
  policy(configured: VersionPolicy): VersionPolicy {
    return this.record.policy ?? configured;
  }

  /** Records that `label` points at `version`; throws, changing nothing, if the write fails. */
  setLabel(label: string, version: number): void {
    const { set, removed } = this.record.labels;
    this.write({
      ...this.record,
      labels: { set: { ...set, [label]: version }, removed: removed.filter((l) => l !== label) },
    });
  }

  /** Records that `label` was removed; throws, changing nothing, if the write fails. */
  removeLabel(label: string): void {
    const { set, removed } = this.record.labels;
    this.write({
      ...this.record,
      labels: {
        set: Object.fromEntries(Object.entries(set).filter(([l]) => l !== label)),
        removed: [...new Set([...removed, label])].sort(),
      },
    });
  }

  /** Records the version policy; throws, changing nothing, if the write fails. */
  setPolicy(policy: VersionPolicy): void {
    this.write({ ...this.record, policy });
  }

  private write(next: OverrideRecord): void {
    const set = Object.fromEntries(Object.entries(next.labels.set).sort(([a], [b]) => a.localeCompare(b)));
    const record: OverrideRecord = { ...next, labels: { set, removed: next.labels.removed } };
    replaceFileSync(this.path, `${JSON.stringify(record, null, 2)}\n`, this.fsys);
    this.record = record;
  }
}
