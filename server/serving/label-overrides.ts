import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { nodeSyncFileSystem, removeTempFilesSync, replaceFileSync, type SyncFileSystem } from '../store/atomic-file.js';
import { LABEL_PATTERN } from './model-registry.js';

const Label = z.string().regex(LABEL_PATTERN);
const OverridesFile = z
  .object({
    /** Labels set (or moved) over REST, with their version. */
    set: z.record(Label, z.int().min(0)),
    /** Labels removed over REST, so a label of the config stays removed after a restart. */
    removed: z.array(Label),
  })
  .strict();
export type LabelOverrideRecord = z.infer<typeof OverridesFile>;

/**
 * The label changes made over REST, kept in the data dir so a restarted server serves the same
 * labels. The config's `serving.versionLabels` apply at every start and these changes on top of
 * them, so editing the config still moves a label nobody changed over REST. Every change is written
 * durably (temp file, fsync, rename, directory fsync) before it is acknowledged.
 */
export class LabelOverrides {
  private constructor(
    readonly path: string,
    private record: LabelOverrideRecord,
    private readonly fsys: SyncFileSystem,
  ) {}

  /** Reads `path` (none yet: no changes); refuses a file it cannot read, naming it and why. */
  static load(path: string, fsys: SyncFileSystem = nodeSyncFileSystem): LabelOverrides {
    removeTempFilesSync(path, fsys);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return new LabelOverrides(path, { set: {}, removed: [] }, fsys);
      throw e;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`version labels file ${path} is not JSON (${(e as Error).message}): fix or remove it`);
    }
    const parsed = OverridesFile.safeParse(json);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new Error(`version labels file ${path} is invalid (${why}): fix or remove it`);
    }
    return new LabelOverrides(path, parsed.data, fsys);
  }

  /** The labels to serve: the config's, then the changes made over REST. */
  applyTo(configured: Readonly<Record<string, number>>): Record<string, number> {
    const removed = new Set(this.record.removed);
    const kept = Object.entries(configured).filter(([label]) => !removed.has(label));
    return { ...Object.fromEntries(kept), ...this.record.set };
  }

  /** Records that `label` points at `version`; throws, changing nothing, if the write fails. */
  set(label: string, version: number): void {
    const set = { ...this.record.set, [label]: version };
    this.write({ set, removed: this.record.removed.filter((l) => l !== label) });
  }

  /** Records that `label` was removed; throws, changing nothing, if the write fails. */
  remove(label: string): void {
    const set = Object.fromEntries(Object.entries(this.record.set).filter(([l]) => l !== label));
    this.write({ set, removed: [...new Set([...this.record.removed, label])].sort() });
  }

  private write(next: LabelOverrideRecord): void {
    const sorted = Object.fromEntries(Object.entries(next.set).sort(([a], [b]) => a.localeCompare(b)));
    replaceFileSync(this.path, `${JSON.stringify({ set: sorted, removed: next.removed }, null, 2)}\n`, this.fsys);
    this.record = { set: sorted, removed: next.removed };
  }
}
