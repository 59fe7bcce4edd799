// `fedserve audit` usage, apart from the command so that `fedserve help` loads none of it.
export const AUDIT_USAGE = `fedserve audit --config FILE --out DIR

  --config FILE   audit config (JSON): honest clients, canaries, rounds, sampling rate, guesses, delta,
                  the privacy section and the runs (one noise multiplier each, or null for DP off)
  --out DIR       where summary.md (the table) and results.json are written
  Exits 1 when a run's empirical epsilon lower bound exceeds the epsilon its accountant reports.`;
