import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { parameterCount } from '../../shared/model/weights.js';
import type { Logger } from '../logger.js';
import { fsyncDir, nodeFileSystem, writeFileDurable, type FileSystem } from './durable-fs.js';
import { decodeState, encodeState, metadataToJson, type CheckpointState } from './json-tree.js';
import { tfjsModelJson, TfjsModelJsonSchema, type ModelArtifact } from './tfjs-model-json.js';

/** What the coordinator commits for one model version. */
export interface CheckpointInput extends ModelArtifact {
  version: number;
  round: number;
  /** The round's record (participants, examples, metrics, timings): plain JSON, owned by the caller. */
  metadata: object;
  /** Server-optimizer / accountant state so a restart resumes exactly; Float32Array leaves are stored as binary. */
  state?: CheckpointState;
}

export interface Checkpoint extends CheckpointInput {
  metadata: Record<string, unknown>;
  /** ISO time the checkpoint was written. */
  savedAt: string;
}

export type CheckpointErrorKind = 'missing' | 'corrupt';

export class CheckpointError extends Error {
  constructor(
    readonly kind: CheckpointErrorKind,
    readonly version: number,
    readonly reason: string,
  ) {
    super(`checkpoint version ${version} ${kind === 'missing' ? 'does not exist' : `is unusable: ${reason}`}`);
    this.name = 'CheckpointError';
  }
}

/** save() found the version already written (by an earlier run, or by another cluster node). */
export class VersionExistsError extends Error {
  override name = 'VersionExistsError';
  constructor(readonly version: number) {
    super(`checkpoint version ${version} already exists`);
  }
}

/** How save() publishes a version. */
export interface SaveOptions {
  /**
   * Runs once the version's files are durable and right before the rename makes it visible; a
   * rejection (a cluster leader whose fencing token is stale) removes them, so nothing is written.
   */
  beforePublish?: () => Promise<void>;
}

export interface CheckpointStoreOptions {
  /** Warned once per skipped, quarantined or removed directory. */
  logger: Logger;
  /** The file system; the real one by default (tests observe or fail calls through it). */
  fs?: FileSystem;
}

/** A damaged version recover() moved out of the versions dir. */
export interface QuarantinedVersion {
  version: number;
  reason: string;
  /** Where the directory now is. */
  movedTo: string;
  /** Its round.json's round and metadata (the round record), when that file still parses. */
  roundFile?: { round: number; metadata: Record<string, unknown> };
}

/** What the store holds when a coordinator starts, after recover() cleaned it up. */
export interface RecoveredStore {
  /** The newest version that verifies, or null. */
  latest: Checkpoint | null;
  /** Damaged versions newer than `latest` in the quarantine dir: moved there now (newest first), then by earlier starts. */
  quarantined: QuarantinedVersion[];
  /** The highest version number ever committed here (quarantined ones included); null on a fresh dir. */
  highestVersion: number | null;
}

const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';
const STATE_FILE = 'state.bin';
const ROUND_FILE = 'round.json';
const FORMAT = 'fedserve-checkpoint/1';
const TEMP_PREFIX = '.tmp-';
const QUARANTINE_DIR = 'quarantine';
const VERSION_NAME = /^(0|[1-9][0-9]*)$/;
/** `<version>-<time>-<random>`: a number quarantined twice (by hand copies) never collides. */
const QUARANTINED_NAME = /^(0|[1-9][0-9]*)-/;

const FileEntrySchema = z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
type FileEntry = z.infer<typeof FileEntrySchema>;

const RoundFileSchema = z.object({
  format: z.literal(FORMAT),
  version: z.number().int().nonnegative(),
  round: z.number().int().nonnegative(),
  savedAt: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  files: z.object({
    [MODEL_FILE]: FileEntrySchema,
    [WEIGHTS_FILE]: FileEntrySchema,
    [STATE_FILE]: FileEntrySchema.optional(),
  }),
  state: z
    .object({
      json: z.record(z.string(), z.unknown()),
      arrays: z.array(
        z.object({
          path: z.array(z.union([z.string(), z.number().int().nonnegative()])),
          byteOffset: z.number().int().nonnegative(),
          length: z.number().int().nonnegative(),
        }),
      ),
    })
    .nullable(),
});
type RoundFile = z.infer<typeof RoundFileSchema>;

function fileEntry(data: Uint8Array | string): FileEntry {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function assertVersionNumber(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
}

function errorCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/**
 * Committed model versions under `<dir>/versions/<version>/`: model.json + weights.bin (tfjs
 * format), round.json (round record, checksums, state manifest) and state.bin when the state
 * holds arrays. A version appears only by an atomic rename of a fully fsynced temp dir, and is
 * verified (sizes, checksums, shapes) on every load, so a torn or damaged one is never used.
 */
export class CheckpointStore {
  readonly dir: string;
  private readonly versionsDir: string;
  private readonly quarantineDir: string;
  private readonly logger: Logger;
  private readonly fs: FileSystem;

  constructor(dir: string, options: CheckpointStoreOptions) {
    this.dir = dir;
    this.versionsDir = join(dir, 'versions');
    this.quarantineDir = join(dir, QUARANTINE_DIR);
    this.logger = options.logger;
    this.fs = options.fs ?? nodeFileSystem;
  }

  /** Writes a version atomically; rejects, leaving no trace, on invalid input or an existing version. */
  async save(cp: CheckpointInput, options: SaveOptions = {}): Promise<void> {
    assertVersionNumber('version', cp.version);
    assertVersionNumber('round', cp.round);
    const expected = parameterCount(cp.weightSpecs);
    if (cp.weights.length !== expected) {
      throw new Error(`weights have ${cp.weights.length} values, the weight specs need ${expected}`);
    }
    for (let i = 0; i < cp.weights.length; i++) {
      if (!Number.isFinite(cp.weights[i]))
        throw new Error(`weights[${i}] is ${cp.weights[i]}; refusing to checkpoint non-finite weights`);
    }
    const metadata = metadataToJson(cp.metadata);
    const state = cp.state === undefined ? null : encodeState(cp.state);

    const weightsBytes = new Uint8Array(cp.weights.buffer, cp.weights.byteOffset, cp.weights.byteLength);
    const modelJson = JSON.stringify(tfjsModelJson(cp, WEIGHTS_FILE));
    const files: Record<string, Uint8Array | string> = { [WEIGHTS_FILE]: weightsBytes, [MODEL_FILE]: modelJson };
    if (state && state.arrays.length > 0) files[STATE_FILE] = state.data;
    const round: RoundFile = {
      format: FORMAT,
      version: cp.version,
      round: cp.round,
      savedAt: new Date().toISOString(),
      metadata,
      files: Object.fromEntries(
        Object.entries(files).map(([name, data]) => [name, fileEntry(data)]),
      ) as RoundFile['files'],
      state: state && { json: state.json, arrays: state.arrays },
    };
    files[ROUND_FILE] = JSON.stringify(round, null, 2);

    const fs = this.fs;
    const final = join(this.versionsDir, String(cp.version));
    await fs.mkdir(this.versionsDir, { recursive: true });
    await fsyncDir(this.dir, fs);
    // Unique per attempt, so concurrent saves (even of one version) never share a temp dir.
    const temp = join(this.versionsDir, `${TEMP_PREFIX}${cp.version}-${process.pid}-${randomBytes(6).toString('hex')}`);
    await this.assertAbsent(cp.version, final);
    await fs.mkdir(temp);
    try {
      for (const [name, data] of Object.entries(files)) await writeFileDurable(join(temp, name), data, fs);
      // The files' names must be on disk before the rename publishes the directory.
      await fsyncDir(temp, fs);
      await options.beforePublish?.();
      try {
        await fs.rename(temp, final);
      } catch (e) {
        // rename() replaces an empty directory but fails on a populated one: another save won.
        if (errorCode(e) === 'ENOTEMPTY' || errorCode(e) === 'EEXIST') throw new VersionExistsError(cp.version);
        throw e;
      }
      // The rename is an entry of the parent: only its fsync makes the new version durable.
      await fsyncDir(this.versionsDir, fs);
    } catch (e) {
      await fs.rm(temp, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Run once when a coordinator starts on the dir: removes temp dirs interrupted saves left,
   * moves every damaged version newer than the newest good one to `<dir>/quarantine/` (so the
   * next commit can take a fresh number and nobody loads it again), and reports what it did.
   */
  async recover(): Promise<RecoveredStore> {
    const names = await this.entries();
    for (const name of names.filter((n) => n.startsWith(TEMP_PREFIX))) {
      await this.fs.rm(join(this.versionsDir, name), { recursive: true, force: true });
      this.logger.warn(`removed ${join(this.versionsDir, name)}: an interrupted save left it`);
    }
    const versions = names
      .filter((n) => VERSION_NAME.test(n))
      .map(Number)
      .sort((a, b) => b - a);
    const quarantined: QuarantinedVersion[] = [];
    let latest: Checkpoint | null = null;
    for (const version of versions) {
      try {
        latest = await this.load(version);
        break;
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        quarantined.push(await this.quarantine(version, e.reason));
      }
    }
    if (names.length > 0) await fsyncDir(this.versionsDir, this.fs);
    // Damaged versions set aside by earlier starts still count: above `latest` they are rounds it lacks.
    const earlier = (await this.quarantinedNames()).sort(
      (a, b) => Number(QUARANTINED_NAME.exec(b)![1]) - Number(QUARANTINED_NAME.exec(a)![1]),
    );
    for (const name of earlier) {
      const version = Number(QUARANTINED_NAME.exec(name)![1]);
      const movedTo = join(this.quarantineDir, name);
      if (quarantined.some((q) => q.movedTo === movedTo) || (latest !== null && version <= latest.version)) continue;
      const roundFile = await this.readRoundFile(movedTo, version);
      quarantined.push({
        version,
        reason: 'quarantined by an earlier start',
        movedTo,
        ...(roundFile ? { roundFile } : {}),
      });
    }
    const all = [...versions, ...quarantined.map((q) => q.version)];
    return { latest, quarantined, highestVersion: all.length > 0 ? Math.max(...all) : null };
  }

  /** Committed version numbers, ascending (directory listing only; load() verifies contents). */
  async versions(): Promise<number[]> {
    return (await this.entries())
      .filter((n) => VERSION_NAME.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** The newest version that verifies; damaged ones and leftover temp dirs are skipped with a log line. */
  async latest(): Promise<Checkpoint | null> {
    const names = await this.entries();
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX))
        this.logger.warn(`ignoring ${join(this.versionsDir, name)}: an interrupted save left it; it is never loaded`);
    }
    const versions = names
      .filter((n) => VERSION_NAME.test(n))
      .map(Number)
      .sort((a, b) => b - a);
    for (const version of versions) {
      try {
        return await this.load(version);
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        this.logger.warn({ version }, `skipping checkpoint version ${version}: ${e.reason}`);
      }
    }
    return null;
  }

  /** Loads and verifies one version; throws CheckpointError ('missing' or 'corrupt'). */
  async load(version: number): Promise<Checkpoint> {
    assertVersionNumber('version', version);
    const dir = join(this.versionsDir, String(version));
    const corrupt = (reason: string) => new CheckpointError('corrupt', version, reason);

    const read = async (name: string): Promise<Buffer> => {
      try {
        return await this.fs.readFile(join(dir, name));
      } catch (e) {
        if (errorCode(e) === 'ENOENT') throw corrupt(`${name} is missing`);
        throw e;
      }
    };
    let roundText: Buffer;
    try {
      roundText = await this.fs.readFile(join(dir, ROUND_FILE));
    } catch (e) {
      if (errorCode(e) !== 'ENOENT') throw e;
      if ((await this.versions()).includes(version)) throw corrupt(`${ROUND_FILE} is missing`);
      throw new CheckpointError('missing', version, 'no such version');
    }
    const parseJson = (name: string, data: Buffer): unknown => {
      try {
        return JSON.parse(data.toString('utf8'));
      } catch {
        throw corrupt(`${name} is not valid JSON`);
      }
    };
    const parsed = RoundFileSchema.safeParse(parseJson(ROUND_FILE, roundText));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw corrupt(`${ROUND_FILE} field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    const round = parsed.data;
    if (round.version !== version) throw corrupt(`${ROUND_FILE} says version ${round.version}`);

    const contents = new Map<string, Buffer>();
    for (const [name, entry] of Object.entries(round.files)) {
      if (entry === undefined) continue;
      const data = await read(name);
      if (data.byteLength !== entry.bytes)
        throw corrupt(`${name} has ${data.byteLength} bytes, ${ROUND_FILE} records ${entry.bytes}`);
      if (fileEntry(data).sha256 !== entry.sha256) throw corrupt(`${name} does not match its recorded SHA-256`);
      contents.set(name, data);
    }

    const modelParsed = TfjsModelJsonSchema.safeParse(parseJson(MODEL_FILE, contents.get(MODEL_FILE)!));
    if (!modelParsed.success) throw corrupt(`${MODEL_FILE} is not a float32 layers-model with one weights file`);
    const group = modelParsed.data.weightsManifest[0];
    if (group.paths[0] !== WEIGHTS_FILE)
      throw corrupt(`${MODEL_FILE} points at ${group.paths[0]}, not ${WEIGHTS_FILE}`);
    const weightSpecs = group.weights.map((w) => ({ name: w.name, shape: w.shape }));
    const weightBytes = contents.get(WEIGHTS_FILE)!;
    if (weightBytes.byteLength !== parameterCount(weightSpecs) * 4) {
      throw corrupt(
        `${WEIGHTS_FILE} has ${weightBytes.byteLength} bytes, the weight specs need ${parameterCount(weightSpecs) * 4}`,
      );
    }

    let state: CheckpointState | undefined;
    if (round.state) {
      try {
        state = decodeState(round.state.json, round.state.arrays, contents.get(STATE_FILE) ?? new Uint8Array(0));
      } catch (e) {
        throw corrupt((e as Error).message);
      }
    }
    return {
      version,
      round: round.round,
      savedAt: round.savedAt,
      metadata: round.metadata,
      modelTopology: modelParsed.data.modelTopology,
      weightSpecs,
      // Copy so the array is 4-byte aligned whatever the read buffer's offset.
      weights: new Float32Array(
        weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.byteLength),
      ),
      ...(state ? { state } : {}),
    };
  }

  private async quarantine(version: number, reason: string): Promise<QuarantinedVersion> {
    const from = join(this.versionsDir, String(version));
    const roundFile = await this.readRoundFile(from, version);
    await this.fs.mkdir(this.quarantineDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '');
    const movedTo = join(this.quarantineDir, `${version}-${stamp}-${randomBytes(3).toString('hex')}`);
    await this.fs.rename(from, movedTo);
    await fsyncDir(this.quarantineDir, this.fs);
    this.logger.warn({ version }, `checkpoint version ${version} is unusable (${reason}); moved to ${movedTo}`);
    return { version, reason, movedTo, ...(roundFile ? { roundFile } : {}) };
  }

  /**
   * Every version's round and metadata (its round record), read from round.json alone (no
   * checksums: for reconciling the round log, not for loading); unreadable ones are left out.
   */
  async roundFiles(): Promise<{ version: number; round: number; metadata: Record<string, unknown> }[]> {
    const out = [];
    for (const version of await this.versions()) {
      const file = await this.readRoundFile(join(this.versionsDir, String(version)), version);
      if (file) out.push({ version, ...file });
    }
    return out;
  }

  private async readRoundFile(versionDir: string, version: number): Promise<QuarantinedVersion['roundFile']> {
    try {
      const text = await this.fs.readFile(join(versionDir, ROUND_FILE));
      const parsed = RoundFileSchema.safeParse(JSON.parse(text.toString('utf8')));
      return parsed.success && parsed.data.version === version
        ? { round: parsed.data.round, metadata: parsed.data.metadata }
        : undefined;
    } catch {
      // Missing or torn: that version's record is known only from the round log.
      return undefined;
    }
  }

  private async quarantinedNames(): Promise<string[]> {
    try {
      return (await this.fs.readdir(this.quarantineDir)).filter((n) => QUARANTINED_NAME.test(n));
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return [];
      throw e;
    }
  }

  private async entries(): Promise<string[]> {
    try {
      return await this.fs.readdir(this.versionsDir);
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return [];
      throw e;
    }
  }

  private async assertAbsent(version: number, final: string): Promise<void> {
    try {
      if ((await this.fs.readdir(final)).length > 0) throw new VersionExistsError(version);
    } catch (e) {
      if (errorCode(e) !== 'ENOENT') throw e;
    }
  }
}
