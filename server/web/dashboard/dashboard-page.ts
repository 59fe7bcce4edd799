import type { TaskInfo } from '../../../shared/protocol/messages.js';
import type { PrivacyStatus, RoundRecord } from '../../../shared/protocol/rounds.js';
import type { SecureAggregationRecord } from '../../../shared/protocol/secagg-messages.js';
import { subscribeToFeed } from '../feed-client.js';
import type { FeedStatus } from '../feed-messages.js';
import { MetricsChart } from './metrics-chart.js';
import { startRounds } from './start-rounds.js';

/**
 * The dashboard (`/`): live round status and phase, participants, accuracy and loss over rounds,
 * privacy spent, each round's secure aggregation, model versions with download links, and the
 * admin "start rounds" control. Everything it shows
 * comes from the live feed; nothing is polled.
 */

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const fmt = {
  pct: (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(1)}%`),
  num: (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4)),
  secs: (ms: number) => `${(ms / 1000).toFixed(1)} s`,
  eps: (v: number) => v.toFixed(3),
};

const closed = new Map<number, RoundRecord>();
let task: TaskInfo | undefined;
let status: FeedStatus | undefined;
const chart = new MetricsChart(el<HTMLCanvasElement>('chart'));

/** The ε column appears once any round was trained with differential privacy. */
function privacyOn(): boolean {
  return status?.privacy !== undefined || [...closed.values()].some((r) => r.privacy);
}

/** The secure-aggregation column appears once any round was securely aggregated. */
function secureAggregationOn(): boolean {
  return [...closed.values()].some((r) => r.secureAggregation);
}

/** E.g. "k=2, t=2; 2 survived, 1 dropped (carol at masked-input); error ≤ 3.1e-7". */
function describeSecureAggregation(s: SecureAggregationRecord): string {
  const dropped = s.dropouts.length ? ` (${s.dropouts.map((d) => `${d.clientId} at ${d.stage}`).join(', ')})` : '';
  // Survivors are known once the masked inputs are in; a round that failed before has none to report.
  const outcome = s.errorBound === undefined && s.survivors.length === 0 ? `stopped at ${s.stage}` : `${s.survivors.length} survived`;
  const bound = s.errorBound === undefined ? '' : `; error ≤ ${s.errorBound.toExponential(1)}`;
  return `k=${s.k}, t=${s.threshold}; ${outcome}, ${s.dropouts.length} dropped${dropped}${bound}`;
}

function dropoutReasons(s: SecureAggregationRecord): string {
  return s.dropouts
    .filter((d) => d.reason)
    .map((d) => `${d.clientId}: ${d.reason}`)
    .join('\n');
}

function modelLink(version: number, file: 'model.json' | 'weights.bin', text: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.href = `/v1/models/${encodeURIComponent(task?.name ?? 'mnist')}/versions/${version}/${file}`;
  a.textContent = text;
  if (file === 'weights.bin') a.download = `${task?.name ?? 'model'}-v${version}.weights.bin`;
  return a;
}

function cell(text: string, attrs: { className?: string; title?: string } = {}): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (attrs.className) td.className = attrs.className;
  if (attrs.title) td.title = attrs.title;
  return td;
}

function roundRow(r: RoundRecord): HTMLTableRowElement {
  const row = document.createElement('tr');
  row.dataset.round = String(r.round);
  row.dataset.status = r.status;
  // The most telling measure the round has: held-out, then federated, then the clients' training metrics.
  const accuracy = r.evaluation?.accuracy ?? r.federatedEvaluation?.accuracy ?? r.trainAccuracy;
  const loss = r.evaluation?.loss ?? r.federatedEvaluation?.loss ?? r.trainLoss;
  const secure = r.secureAggregation;
  row.append(
    cell(String(r.round)),
    cell(r.status === 'failed' ? `failed: ${r.reason ?? ''}` : r.status, { className: `status-${r.status}` }),
    cell(`${r.contributions.length}/${r.participants.length}`),
    cell(String(r.numExamples)),
    cell(fmt.pct(accuracy)),
    cell(fmt.num(loss)),
    ...(privacyOn() ? [cell(r.privacy ? fmt.eps(r.privacy.epsilon) : '-')] : []),
    // Why each dropout left, when it said so, on hover.
    ...(secureAggregationOn() ? [cell(secure ? describeSecureAggregation(secure) : '-', { className: 'text', title: secure ? dropoutReasons(secure) : '' })] : []),
    cell(fmt.secs(r.durationMs)),
  );
  const version = document.createElement('td');
  if (r.version !== undefined) version.append(modelLink(r.version, 'model.json', `v${r.version}`), ' · ', modelLink(r.version, 'weights.bin', 'weights'));
  row.append(version);
  return row;
}

function renderRounds(): void {
  const rounds = [...closed.values()].sort((a, b) => a.round - b.round);
  chart.update(rounds.filter((r) => r.status === 'committed'));
  el('epsilon-head').hidden = !privacyOn();
  el('secagg-head').hidden = !secureAggregationOn();
  el('rounds').replaceChildren(...rounds.reverse().map(roundRow));
  document.body.dataset.committedRounds = String(rounds.filter((r) => r.status === 'committed').length);
}

function lastClosed(): RoundRecord | undefined {
  let last: RoundRecord | undefined;
  for (const r of closed.values()) if (!last || r.round > last.round) last = r;
  return last;
}

function renderStatus(): void {
  if (!status) return;
  el('version').textContent = String(status.currentVersion);
  el('clients').textContent = status.connectedClients.length ? `${status.connectedClients.length}: ${status.connectedClients.join(', ')}` : '0';
  el('pending').textContent = String(status.pendingRounds);
  el('privacy').textContent = status.privacy ? describePrivacy(status.privacy) : 'differential privacy off';
  el('privacy').dataset.epsilon = status.privacy ? String(status.privacy.epsilon) : '';
  // While no round runs, the last closed one is shown.
  const r = status.running ?? lastClosed();
  el('round').textContent = r ? String(r.round) : '-';
  el('phase').textContent = r ? `${r.status}${r.stage ? ` (${r.stage})` : ''}${status.running ? '' : '; no round running'}` : 'idle';
  el('phase').className = r ? `status-${r.status}` : '';
  el('participants').textContent = r?.participants.length ? r.participants.join(', ') : '-';
  renderElapsed();
}

function describePrivacy(p: PrivacyStatus): string {
  const against = p.coordinatorEpsilon === null ? '' : `; against the coordinator ε = ${fmt.eps(p.coordinatorEpsilon)}`;
  const left = p.exhausted ? `budget exhausted: ${p.exhausted}` : `${p.roundsRemaining} more round(s) fit the budget`;
  return `ε = ${fmt.eps(p.epsilon)} of ${p.targetEpsilon} at δ = ${p.delta} (${p.mode}, ${p.rounds} round(s))${against}; ${left}`;
}

function renderElapsed(): void {
  const running = status?.running;
  const last = lastClosed();
  if (running) el('elapsed').textContent = fmt.secs(Date.now() - Date.parse(running.startedAt));
  else el('elapsed').textContent = last ? `${fmt.secs(last.durationMs)} in total` : '-';
}

subscribeToFeed({
  snapshot: (s) => {
    task = s.task;
    el('task').textContent = `${s.task.name}: [${s.task.inputShape.join('x')}] -> ${s.task.numClasses} classes, ${s.task.parameterCount.toLocaleString()} parameters`;
    closed.clear();
    for (const r of s.rounds) closed.set(r.round, r);
    status = s;
    renderRounds();
    renderStatus();
  },
  status: (s) => {
    status = s;
    renderStatus();
  },
  round: (r) => {
    closed.set(r.round, r);
    renderRounds();
    renderStatus();
  },
  connection: (live) => {
    el('feed-state').textContent = live ? 'live' : 'reconnecting';
    el('feed-state').classList.toggle('live', live);
  },
  invalid: (event, problem) => console.warn(`ignored a malformed '${event}' message: ${problem}`),
});
setInterval(renderElapsed, 1000);

el('start-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const result = el('start-result');
  const button = el<HTMLButtonElement>('start');
  button.disabled = true;
  startRounds(Number(el<HTMLInputElement>('start-count').value), el<HTMLDialogElement>('token-dialog'), el<HTMLInputElement>('admin-token'))
    .then((r) => {
      result.textContent = r.message;
      result.className = r.ok ? 'hint ok' : 'hint bad';
    })
    .catch((e: Error) => {
      result.textContent = `could not reach the coordinator: ${e.message}`;
      result.className = 'hint bad';
    })
    .finally(() => (button.disabled = false));
});

// Tests and kiosks read the chart's contents here.
(window as unknown as { fedserveChart: MetricsChart }).fedserveChart = chart;
