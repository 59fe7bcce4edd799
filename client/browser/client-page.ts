import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../../shared/data/dataset.js';
import type { TaskInfo } from '../../shared/protocol/messages.js';
import type { ClientPolicy } from '../../shared/protocol/task-policy.js';
import type { IdentityKeyPair } from '../../shared/secagg/index.js';
import { assertDatasetFitsTask } from '../../shared/task.js';
import { subscribeToFeed } from '../../shared/feed/feed-client.js';
import { describeCoordinator } from '../../shared/feed/feed-summary.js';
import { splitHeldOut } from '../held-out-split.js';
import { NodeClient } from '../node-client.js';
import { parseBackendParam, startBrowserBackend, type BrowserBackend } from './browser-backend.js';
import { ClientView } from './client-view.js';
import { describeChoice, loadChoice, parseDataParam, type DataChoice } from './data-sources.js';
import { GlobalModel } from './global-model.js';
import { loadOrCreatePageIdentity } from './page-identity.js';
import { describePolicy, parsePolicyParams } from './page-policy.js';
import { defaultPageThreads, describeThreads, parseThreadsSetting } from './page-threads.js';
import { WebWorkerTrainer } from './web-worker-trainer.js';
import { errorMessage } from '../../shared/error-message.js';

/**
 * The browser client page (`/client`): the same federated client as `fedserve client`, trained
 * in the page on data picked here. Scriptable: `?token=T&data=mnist:<i>/<n>&autostart=1`
 * (optional `name=`, `backend=auto|webgl|wasm|cpu`, `eval-split=F`, `threads=N`) joins and trains without clicks.
 */

const params = new URLSearchParams(location.search);
const view = new ClientView();
const input = (id: string) => document.getElementById(id) as HTMLInputElement;

let resolveTask: (t: TaskInfo) => void;
const taskKnown = new Promise<TaskInfo>((resolve) => (resolveTask = resolve));
let globalVersion: number | undefined;
let joined: { data: Dataset; model: GlobalModel } | undefined;

function setVersion(version: number): void {
  globalVersion = version;
  view.globalVersion(version);
}

subscribeToFeed({
  snapshot: (s) => {
    resolveTask(s.task);
    view.task(s.task);
    setVersion(s.currentVersion);
    view.coordinator(describeCoordinator(s));
  },
  status: (s) => {
    setVersion(s.currentVersion);
    view.coordinator(describeCoordinator(s));
  },
  round: () => {},
  connection: (live) => view.log(live ? 'following the coordinator' : 'lost the coordinator; reconnecting'),
  invalid: (event, problem) => view.log(`ignored a malformed '${event}' message: ${problem}`),
});

function formChoice(): DataChoice {
  const source = (document.querySelector('input[name=source]:checked') as HTMLInputElement).value;
  switch (source) {
    case 'mnist':
      return parseDataParam(`mnist:${input('shard-index').value}/${input('shard-count').value}`);
    case 'csv': {
      const file = input('csv-file').files?.[0];
      if (!file) throw new Error('pick a CSV file');
      return { kind: 'csv', file, labelColumn: input('label-column').value || 'label' };
    }
    case 'images':
      return { kind: 'images', files: [...(input('image-files').files ?? [])] };
    default:
      throw new Error(`unknown data source '${source}'`);
  }
}

function parseEvalSplit(value: string): number {
  const fraction = value.trim() === '' ? 0 : Number(value);
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`the held-out fraction must be in [0, 1), got '${value}'`);
  return fraction;
}

/** A named page keeps its identity across reloads: the coordinator binds a name to the first key it joined with. */
function identityFor(name: string): IdentityKeyPair | undefined {
  if (!name) return undefined;
  let storage: Storage;
  try {
    storage = localStorage;
  } catch (e) {
    view.log(
      `no localStorage (${(e as Error).message}): a fresh identity for this visit, so the coordinator will refuse '${name}' after a reload`,
    );
    return undefined;
  }
  return loadOrCreatePageIdentity(storage, location.origin, name);
}

async function join(
  choice: DataChoice,
  token: string,
  name: string,
  backend: BrowserBackend,
  evalSplit: number,
  policy: ClientPolicy,
  threads: number,
): Promise<void> {
  view.setState('loading', 'loading data');
  const task = await taskKnown;
  view.backend(await startBrowserBackend(backend));
  const loaded = await loadChoice(choice, task);
  assertDatasetFitsTask(loaded, task, describeChoice(choice));
  const data: Dataset = { ...loaded, inputShape: task.inputShape, numClasses: task.numClasses };
  const { train, heldOut } = evalSplit > 0 ? splitHeldOut(data, evalSplit) : { train: data, heldOut: undefined };
  view.data(data, describeChoice(choice), heldOut?.n ?? 0);
  view.log(
    `loaded ${data.n} examples${heldOut ? ` (${heldOut.n} held out to evaluate new models)` : ''}; they stay in this page`,
  );
  joined = { data, model: new GlobalModel(task.name) };
  if (globalVersion !== undefined) view.globalVersion(globalVersion);

  const trainer = new WebWorkerTrainer({ threads, log: (line) => view.log(line) });
  const used = await trainer.threads(train);
  view.threads(used, describeThreads(used, threads, tf.getBackend(), trainer.fallbackReason));
  if (used > 1) view.log(`training on ${used} Web Workers (data parallel)`);

  const identity = identityFor(name);
  view.log(describePolicy(policy));
  const client = new NodeClient({
    policy,
    server: location.origin,
    token,
    data: train,
    progress: view.progress(),
    localTrainer: trainer,
    ...(heldOut && heldOut.n > 0 ? { evalData: heldOut } : {}),
    ...(name ? { name } : {}),
    ...(identity ? { identity } : {}),
  });
  client.onRound((outcome) => view.localRound(outcome));
  view.setState('joined', 'joined');
  await client.run();
  view.setState('stopped', 'stopped');
}

function start(choice: () => DataChoice): void {
  let picked: DataChoice;
  let backend: BrowserBackend;
  let evalSplit: number;
  let policy: ClientPolicy;
  let threads: number;
  try {
    picked = choice();
    backend = parseBackendParam(params.get('backend'));
    evalSplit = parseEvalSplit(input('eval-split').value);
    policy = parsePolicyParams(params);
    threads = parseThreadsSetting(input('threads').value);
  } catch (e) {
    view.log((e as Error).message);
    return;
  }
  join(picked, input('token').value, input('name').value, backend, evalSplit, policy, threads).catch((e: unknown) => {
    view.setState('failed', `failed: ${errorMessage(e)}`);
    view.log(errorMessage(e));
  });
}

document.getElementById('join-form')!.addEventListener('submit', (event) => {
  event.preventDefault();
  start(formChoice);
});

document.getElementById('predict-form')!.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!joined || globalVersion === undefined) return;
  const index = Number(input('predict-index').value);
  const { data, model } = joined;
  model
    .predict(globalVersion, data, index)
    .then((p) => view.prediction(p, data, index))
    .catch((e: unknown) => view.log(`prediction failed: ${errorMessage(e)}`));
});

input('token').value = params.get('token') ?? '';
input('name').value = params.get('name') ?? '';
input('eval-split').value = params.get('eval-split') ?? '0';
input('threads').value = params.get('threads') ?? String(defaultPageThreads());
const dataParam = params.get('data');
if (dataParam) {
  try {
    const c = parseDataParam(dataParam);
    input('shard-index').value = String(c.shard);
    input('shard-count').value = String(c.shards);
  } catch (e) {
    view.log((e as Error).message);
  }
}
view.setState('idle', 'not joined');
if (params.get('autostart') === '1') {
  if (!dataParam || !params.get('token')) view.log('autostart=1 needs token= and data=mnist:<i>/<n>');
  else start(() => parseDataParam(dataParam));
}
