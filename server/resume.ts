/**
 * What a coordinator resumes from when it starts on a data dir: the newest good checkpoint (the
 * store quarantines damaged newer ones), the round history with every committed round's record
 * (recovered from the checkpoints when the round log lost it), the highest version number ever
 * used, and a privacy ledger that never goes backwards.
 */
import type { PrivacyCharge } from './privacy-journal.js';
import type { PrivacyRuntime } from './privacy-runtime.js';
import type { RoundLog } from './round-log.js';
import type { Checkpoint, CheckpointStore, QuarantinedVersion } from './store/checkpoint-store.js';
import { RoundRecordSchema, type RoundRecord } from '../shared/protocol/rounds.js';

export interface ResumedDataDir {
  latest: Checkpoint | null;
  /** Damaged versions newer than `latest`, in the quarantine dir (moved there at this start or an earlier one). */
  quarantined: QuarantinedVersion[];
  /** The highest version number ever committed in the dir; null on a fresh dir. */
  highestVersion: number | null;
  /** Closed rounds, oldest first, committed ones recovered from checkpoints where the log lacked them. */
  history: RoundRecord[];
}

export async function resumeDataDir(
  store: CheckpointStore,
  roundLog: RoundLog,
  log: (line: string) => void,
): Promise<ResumedDataDir> {
  const history = await roundLog.read();
  const { latest, quarantined, highestVersion } = await store.recover();
  if (latest === null && highestVersion !== null) {
    throw new Error(
      `no usable checkpoint in ${store.dir}: every version up to ${highestVersion} is damaged (moved to ${store.dir}/quarantine); ` +
        'restore a version from a backup into versions/, or start on a new --data-dir',
    );
  }
  // A crash between saving a version and logging its round, or a damaged log line, leaves the
  // committed record only in the version's round.json (a quarantined one's too, when it parses).
  const files = [
    ...(await store.roundFiles()),
    ...quarantined.flatMap((q) => (q.roundFile ? [{ version: q.version, ...q.roundFile }] : [])),
  ];
  const known = new Set(history.map((r) => r.round));
  const recovered: RoundRecord[] = [];
  for (const file of files) {
    const record = RoundRecordSchema.safeParse(file.metadata);
    if (!record.success || record.data.status !== 'committed' || known.has(record.data.round)) continue;
    known.add(record.data.round);
    recovered.push(record.data);
  }
  recovered.sort((a, b) => a.round - b.round);
  for (const record of recovered) {
    await roundLog.append(record);
    log(
      `round ${record.round}: its record was missing from the round log; recovered from checkpoint version ${record.version}`,
    );
  }
  history.push(...recovered);
  history.sort((a, b) => a.round - b.round);
  return { latest, quarantined, highestVersion, history };
}

/** The privacy account as the coordinator resumes it (PrivacyRuntime, or a test double). */
export type ResumablePrivacy = Pick<PrivacyRuntime, 'replay' | 'summary'>;

/**
 * After the privacy state of `latest` was restored: charges the rounds that ledger does not cover
 * (committed ones whose checkpoints were damaged, from their round records; rounds charged but
 * never committed, from the privacy journal). Refuses (throws) when the spend cannot be
 * established: a damaged version without a record, or a ledger below what was already reported.
 * `coversHistory`: the checkpoint's ledger accounts for every earlier round (false when it was
 * trained without differential privacy: the ledger then starts at it).
 */
export function restoreLedgerFromLog(
  privacy: ResumablePrivacy,
  resumed: ResumedDataDir,
  charges: readonly PrivacyCharge[],
  coversHistory: boolean,
  log: (line: string) => void,
): void {
  const { latest, quarantined, history } = resumed;
  if (latest === null) return;
  const lost = history.filter((r) => r.status === 'committed' && r.version !== undefined && r.version > latest.version);
  for (const q of quarantined) {
    if (!lost.some((r) => r.version === q.version)) {
      throw new Error(
        `cannot establish the privacy spent: checkpoint version ${q.version} was damaged (moved to ${q.movedTo}) and no round ` +
          `record for it survives, so its round's privacy charge is unknown; put an intact copy of version ${q.version} back ` +
          'into versions/ (from a backup) or start on a new --data-dir',
      );
    }
  }
  // A committed round's record and its journal entry are one charge; every other journal entry is its own.
  const fromRecords = lost.flatMap((r) => (r.privacy ? [{ round: r.round, privacy: r.privacy }] : []));
  const recorded = new Set(fromRecords.map((c) => c.round));
  // A round is journaled at its draw and again as its turnout becomes known: its entry with the most contributors is its whole charge.
  const byRound = new Map<number, PrivacyCharge>();
  for (const c of charges) {
    if (c.round <= latest.round || recorded.has(c.round)) continue;
    const seen = byRound.get(c.round);
    if (!seen || c.privacy.contributors > seen.privacy.contributors) byRound.set(c.round, c);
  }
  const replayed = [...fromRecords, ...byRound.values()].sort((a, b) => a.round - b.round);
  const last = replayed.at(-1);
  if (last) {
    privacy.replay(
      replayed.map(({ round, privacy: p }) => ({
        round,
        samplingRate: p.samplingRate,
        expectedContributors: p.expectedContributors,
        contributors: p.contributors,
      })),
      last.privacy.clipNorm,
    );
  }
  const { epsilon: spent, delta } = privacy.summary();
  const reported = [...history.map((r) => ({ round: r.round, privacy: r.privacy })), ...charges]
    // Epsilon at another delta (the config changed) is not comparable.
    .filter((r) => r.privacy?.delta === delta && (coversHistory || r.round > latest.round))
    .map((r) => r.privacy!.epsilon);
  const highest = Math.max(0, ...reported);
  // Relative slack for floating-point noise only: the replay repeats the same arithmetic.
  if (spent < highest * (1 - 1e-9)) {
    throw new Error(
      `cannot establish the privacy spent: the round log reports epsilon ${highest} spent, but the ledger restored from ` +
        `checkpoint version ${latest.version} and the log holds only ${spent}; refusing to start with a smaller ledger`,
    );
  }
  if (replayed.length > 0) {
    log(
      `privacy: charged ${replayed.length} round(s) the checkpoint's ledger lacks (from the round log and the privacy journal); epsilon spent ${spent}`,
    );
  }
}
