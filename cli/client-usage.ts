// `fedserve client` usage, apart from the command so that `fedserve help` loads no TensorFlow.js.
export const CLIENT_USAGE = `fedserve client --server URL --data SPEC --token TOKEN [options]

  --server URL          coordinator URL, e.g. http://127.0.0.1:8080 or https://host:8443
  --ca FILE             PEM certificate(s) to trust for an https coordinator: a private CA or
                        a self-signed certificate (replaces Node's default CA list)
  --data SPEC           local data: file.csv, file.jsonl, mnist:<i>/<n> (shard i of n, 0-based),
                        idx:IMAGES,LABELS[:<i>/<n>] (IDX files, gzipped or not) or
                        fashion-mnist:train|test|<i>/<n> (apt-get install dataset-fashion-mnist)
  --token TOKEN         join token (or FEDSERVE_JOIN_TOKEN)
  --label-column NAME   CSV column holding the class index (default label)
  --name NAME           client id shown in round records (default: assigned by the coordinator)
  --eval-split F        hold out this fraction of the local data to score each new model on it
                        (federated evaluation; default 0: no held-out split)
  --backend NAME        TensorFlow.js backend: tensorflow, wasm or cpu (default: best available)
  --threads N           worker threads sharing each training batch (data parallel; default: the
                        cores, at most 4; native TensorFlow uses every core by itself)
  --identity FILE       Ed25519 identity for secure aggregation, created on first use; reuse it to
                        come back under the same --name (default: a fresh identity per run)
  --audit-dir DIR       audit mode: record this client's plaintext update of every secure round

Policy (refused tasks are logged and nothing is sent; once a coordinator ran a secure or DP round
with this client, later tasks without it are refused anyway):
  --require-secure-aggregation   refuse any task without secure aggregation
  --min-noise-multiplier Z       refuse any task without differential privacy of noise multiplier >= Z
  --max-clip-norm C              refuse any DP task whose clip norm exceeds C`;
