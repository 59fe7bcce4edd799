// `fedserve simulate` usage, apart from the command so that `fedserve help` loads no TensorFlow.js.
export const SIMULATE_USAGE = `fedserve simulate --config FILE --out DIR [--backend NAME] [--render-only]

  --config FILE   simulation config (JSON): clients, partitioner, rounds, attackers and the runs to compare
  --out DIR       where rounds.csv, summary.md, plot.svg, partitions.csv, runs.json and logs/ are written
  --backend NAME  TensorFlow.js backend for the coordinator and the trainer threads
  --render-only   rewrite rounds.csv, summary.md and plot.svg from the runs.json of an earlier simulation`;
