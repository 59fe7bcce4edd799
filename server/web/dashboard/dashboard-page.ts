import type { TaskInfo } from '../../../shared/protocol/messages.js';
import { aggregateRoundView, type AggregateRound, type PublicRound } from '../../../shared/protocol/public-rounds.js';
import type { PrivacyStatus, RoundRecord } from '../../../shared/protocol/rounds.js';
import type { SecureAggregationRecord } from '../../../shared/protocol/secagg-messages.js';
import { subscribeToFeed } from '../../../shared/feed/feed-client.js';
import type { FeedRound, FeedStatus } from '../../../shared/feed/feed-messages.js';
import { connectedCount, participantCount } from '../../../shared/feed/feed-summary.js';
import { adminToken } from './admin-token.js';
import { renderClassAccuracy, renderConfusion } from './class-view.js';
import { MetricsChart } from './metrics-chart.js';
import { Playground } from './playground.js';
import { startRounds } from './start-rounds.js';
import { errorMessage } from '../../../shared/error-message.js';

/**
 * The dashboard (`/`): live round status and phase, participants, accuracy and loss over rounds,
 * privacy spent, each round's secure aggregation, model versions with download links, and the
 * admin "start rounds" control. Everything it shows comes from the live feed; nothing is polled.
 * By default it is the public view (aggregates only; under differential privacy only what the
 * accountant covers); with the admin token it adds who took part and each client's numbers.
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the page's HTML fixes each id's element type
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

/** A round as the feed gave it: the full record (admin) or the public view. */
type Shown = FeedRound;

const closed = new Map<number, Shown>();
let task: TaskInfo | undefined;
let status: FeedStatus | undefined;
let stopFeed: (() => void) | undefined;
const chart = new MetricsChart(el<HTMLCanvasElement>('chart'));
const playground = new Playground(
  {
    pad: el<HTMLCanvasElement>('pg-pad'),
    overlay: el<HTMLCanvasElement>('pg-overlay'),
    version: el<HTMLSelectElement>('pg-version'),
    explain: el<HTMLButtonElement>('pg-explain'),
    clear: el<HTMLButtonElement>('pg-clear'),
    probs: el('pg-probs'),
    status: el('pg-status'),
  },
  () => task?.name ?? 'mnist',
);

const roundOf = (r: Shown): RoundRecord | PublicRound => r.record;
/** The aggregate numbers of a round, when its view has them (not the public view under DP). */
function aggregatesOf(r: Shown): AggregateRound | undefined {
  if (r.access === 'admin') return aggregateRoundView(r.record);
  return r.record.view === 'aggregates' ? r.record : undefined;
}
function epsilonOf(r: Shown): number | undefined {
  if (r.access === 'admin') return r.record.privacy?.epsilon;
  return r.record.view === 'dp' ? r.record.privacy?.epsilon : undefined;
}
function reasonOf(r: Shown): string | undefined {
  return r.access === 'admin' ? r.record.reason : aggregatesOf(r)?.reason;
}

/** The ε column appears once any round was trained with differential privacy. */
function privacyOn(): boolean {
  return status?.privacy !== undefined || [...closed.values()].some((r) => epsilonOf(r) !== undefined);
}

function secureAggregationOf(r: Shown): { text: string; title: string } | undefined {
  if (r.access === 'admin') {
    const s = r.record.secureAggregation;
    const counts = aggregateRoundView(r.record).secureAggregation;
    return s && counts && { text: describeSecureAggregation(counts, s.dropouts), title: dropoutReasons(s) };
  }
  switch (r.record.view) {
    case 'aggregates': {
      const counts = r.record.secureAggregation;
      return counts && { text: describeSecureAggregation(counts), title: '' };
    }
    case 'dp':
      return r.record.secureAggregation ? { text: 'on', title: '' } : undefined;
    default: {
      const never: never = r.record;
      throw new Error(`unknown round view ${JSON.stringify(never)}`);
    }
  }
}

/** The secure-aggregation column appears once any round was securely aggregated. */
function secureAggregationOn(): boolean {
  return [...closed.values()].some((r) => secureAggregationOf(r) !== undefined);
}

/**
 * E.g. "k=2, t=2; 2 survived, 1 dropped (carol at masked-input); error ≤ 3.1e-7". Who dropped is
 * named in the admin view only (`named`); the public view has the count.
 */
function describeSecureAggregation(
  s: NonNullable<AggregateRound['secureAggregation']>,
  named?: SecureAggregationRecord['dropouts'],
): string {
  const who = named?.length ? ` (${named.map((d) => `${d.clientId} at ${d.stage}`).join(', ')})` : '';
  // Survivors are known once the masked inputs are in; a round that failed before has none to report.
  const outcome = s.errorBound === undefined && s.survivors === 0 ? `stopped at ${s.stage}` : `${s.survivors} survived`;
  const bound = s.errorBound === undefined ? '' : `; error ≤ ${s.errorBound.toExponential(1)}`;
  return `k=${s.k}, t=${s.threshold}; ${outcome}, ${s.dropouts} dropped${who}${bound}`;
}

function dropoutReasons(s: SecureAggregationRecord): string {
  return s.dropouts
    .filter((d) => d.reason)
    .map((d) => `${d.clientId}: ${d.reason}`)
    .join('\n');
}

/** Admin view: each client's contribution (per node in a cluster round), and who dropped out or was refused. */
function perClientDetail(r: RoundRecord): string {
  const parts = r.contributions.map((c) => {
    const numbers = [
      c.numExamples === undefined ? undefined : `${c.numExamples} ex`,
      c.loss === undefined ? undefined : `loss ${fmt.num(c.loss)}`,
      c.accuracy === undefined ? undefined : fmt.pct(c.accuracy),
      c.trainMs === undefined ? undefined : fmt.secs(c.trainMs),
    ].filter((x) => x !== undefined);
    return numbers.length ? `${c.clientId}: ${numbers.join(', ')}` : c.clientId;
  });
  for (const n of r.nodes ?? []) {
    const numbers = [
      `${n.contributors} client(s)`,
      `${n.numExamples} ex`,
      n.loss === undefined ? undefined : `loss ${fmt.num(n.loss)}`,
      n.accuracy === undefined ? undefined : fmt.pct(n.accuracy),
      n.refused > 0 ? `${n.refused} refused` : undefined,
    ].filter((x) => x !== undefined);
    parts.push(`node ${n.node}: ${numbers.join(', ')}`);
  }
  if (r.dropped.length) parts.push(`dropped: ${r.dropped.join(', ')}`);
  if (r.refused?.length) parts.push(`refused: ${r.refused.map((x) => `${x.clientId} (${x.reason})`).join(', ')}`);
  return parts.join('; ');
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

function roundRow(shown: Shown, admin: boolean): HTMLTableRowElement {
  const r = roundOf(shown);
  const agg = aggregatesOf(shown);
  const row = document.createElement('tr');
  row.dataset.round = String(r.round);
  row.dataset.status = r.status;
  // The most telling measure the round has: held-out, then federated, then the clients' training metrics.
  const accuracy = r.evaluation?.accuracy ?? agg?.federatedEvaluation?.accuracy ?? agg?.trainAccuracy;
  const loss = r.evaluation?.loss ?? agg?.federatedEvaluation?.loss ?? agg?.trainLoss;
  const secure = secureAggregationOf(shown);
  const reason = reasonOf(shown);
  const epsilon = epsilonOf(shown);
  row.append(
    cell(String(r.round)),
    cell(r.status === 'failed' && reason !== undefined ? `failed: ${reason}` : r.status, {
      className: `status-${r.status}`,
    }),
    cell(agg ? `${agg.contributors}/${agg.participants}` : '-'),
    cell(agg ? String(agg.numExamples) : '-'),
    cell(fmt.pct(accuracy)),
    cell(fmt.num(loss)),
    ...(privacyOn() ? [cell(epsilon === undefined ? '-' : fmt.eps(epsilon))] : []),
    // Why each dropout left, when it said so, on hover (admin view).
    ...(secureAggregationOn()
      ? [cell(secure ? secure.text : '-', { className: 'text', title: secure?.title ?? '' })]
      : []),
    cell(agg ? fmt.secs(agg.durationMs) : '-'),
  );
  const version = document.createElement('td');
  if (r.version !== undefined)
    version.append(
      modelLink(r.version, 'model.json', `v${r.version}`),
      ' · ',
      modelLink(r.version, 'weights.bin', 'weights'),
    );
  row.append(version);
  if (admin)
    row.append(cell(shown.access === 'admin' ? perClientDetail(shown.record) : '-', { className: 'text detail' }));
  return row;
}

function renderRounds(): void {
  const rounds = [...closed.values()].sort((a, b) => roundOf(a).round - roundOf(b).round);
  const admin = status?.access === 'admin';
  chart.update(rounds.map(roundOf).filter((r) => r.status === 'committed'));
  const committed = rounds.map(roundOf).filter((r) => r.status === 'committed');
  renderConfusion(el<HTMLTableElement>('confusion'), el('confusion-caption'), committed);
  renderClassAccuracy(el<HTMLTableElement>('class-accuracy'), committed);
  playground.setVersions(committed.flatMap((r) => (r.version === undefined ? [] : [r.version])));
  el('epsilon-head').hidden = !privacyOn();
  el('secagg-head').hidden = !secureAggregationOn();
  el('detail-head').hidden = !admin;
  el('rounds').replaceChildren(...rounds.reverse().map((r) => roundRow(r, admin)));
  document.body.dataset.committedRounds = String(rounds.filter((r) => roundOf(r).status === 'committed').length);
}

function lastClosed(): Shown | undefined {
  let last: Shown | undefined;
  for (const r of closed.values()) if (!last || r.record.round > last.record.round) last = r;
  return last;
}

/** The running round in the same shape as a closed one. */
function runningShown(s: FeedStatus): Shown | undefined {
  if (!s.running) return undefined;
  return s.access === 'admin' ? { access: 'admin', record: s.running } : { access: 'public', record: s.running };
}

function renderStatus(): void {
  if (!status) return;
  el('version').textContent = String(status.currentVersion);
  const connected = connectedCount(status);
  el('clients').textContent =
    status.access === 'admin' && status.connectedClients.length
      ? `${status.connectedClients.length}: ${status.connectedClients.join(', ')}`
      : connected === undefined
        ? 'not published (differential privacy)'
        : String(connected);
  el('pending').textContent = String(status.pendingRounds);
  el('privacy').textContent = status.privacy ? describePrivacy(status.privacy) : 'differential privacy off';
  el('privacy').dataset.epsilon = status.privacy ? String(status.privacy.epsilon) : '';
  el('outside-dp').hidden = !(status.access === 'admin' && status.outsideDpGuarantee);
  // While no round runs, the last closed one is shown.
  const shown = runningShown(status) ?? lastClosed();
  const r = shown?.record;
  el('round').textContent = r ? String(r.round) : '-';
  el('phase').textContent = r
    ? `${r.status}${r.stage ? ` (${r.stage})` : ''}${status.running ? '' : '; no round running'}`
    : 'idle';
  el('phase').className = r ? `status-${r.status}` : '';
  const count = r ? participantCount(r) : undefined;
  el('participants').textContent =
    shown?.access === 'admin'
      ? shown.record.participants.length
        ? shown.record.participants.join(', ')
        : '-'
      : count
        ? String(count)
        : '-';
  renderElapsed();
}

function describePrivacy(p: PrivacyStatus): string {
  const against = p.coordinatorEpsilon === null ? '' : `; against the coordinator ε = ${fmt.eps(p.coordinatorEpsilon)}`;
  const left = p.exhausted ? `budget exhausted: ${p.exhausted}` : `${p.roundsRemaining} more round(s) fit the budget`;
  return `ε = ${fmt.eps(p.epsilon)} of ${p.targetEpsilon} at δ = ${p.delta} (${p.mode}, ${p.rounds} round(s))${against}; ${left}`;
}

function renderElapsed(): void {
  const running = status && runningShown(status);
  const last = lastClosed();
  const timing = (r: Shown | undefined) => (r?.access === 'admin' ? r.record : r && aggregatesOf(r));
  const now = timing(running);
  const before = timing(last);
  if (running) el('elapsed').textContent = now ? fmt.secs(Date.now() - Date.parse(now.startedAt)) : '-';
  else el('elapsed').textContent = before ? `${fmt.secs(before.durationMs)} in total` : '-';
}

/** Why the last admin token offered was refused, until another one is offered. */
let refusal: string | undefined;

function describeAccess(): void {
  const admin = status?.access === 'admin';
  const note = refusal === undefined ? '' : ` (admin token refused: ${refusal})`;
  el('access').textContent = `${admin ? 'admin view: per-client detail shown' : 'public view: aggregates only'}${note}`;
  el('access').dataset.access = status?.access ?? '';
  el('show-public').hidden = !admin;
}

/** (Re)connects the feed, as admin when this tab holds an admin token. */
function follow(): void {
  stopFeed?.();
  const token = adminToken.get();
  stopFeed = subscribeToFeed(
    {
      snapshot: (s) => {
        task = s.task;
        el('task').textContent =
          `${s.task.name}: [${s.task.inputShape.join('x')}] -> ${s.task.numClasses} classes, ${s.task.parameterCount.toLocaleString()} parameters`;
        closed.clear();
        if (s.access === 'admin') for (const record of s.rounds) closed.set(record.round, { access: 'admin', record });
        else for (const record of s.rounds) closed.set(record.round, { access: 'public', record });
        status = s;
        describeAccess();
        renderRounds();
        renderStatus();
      },
      status: (s) => {
        status = s;
        renderStatus();
      },
      round: (r) => {
        closed.set(r.record.round, r);
        renderRounds();
        renderStatus();
      },
      connection: (live) => {
        el('feed-state').textContent = live ? 'live' : 'reconnecting';
        el('feed-state').classList.toggle('live', live);
      },
      invalid: (event, problem) => console.warn(`ignored a malformed '${event}' message: ${problem}`),
      refused: (problem) => {
        // Only a token can be refused: forget it and fall back to the public view.
        adminToken.forget();
        refusal = problem;
        describeAccess();
        follow();
      },
    },
    token === undefined ? {} : { adminToken: token },
  );
}
follow();
setInterval(renderElapsed, 1000);

el('admin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const field = el<HTMLInputElement>('view-token');
  if (!field.value) return;
  adminToken.set(field.value);
  field.value = '';
  refusal = undefined;
  follow();
});
el('show-public').addEventListener('click', () => {
  adminToken.forget();
  refusal = undefined;
  follow();
});

el('start-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const result = el('start-result');
  const button = el<HTMLButtonElement>('start');
  button.disabled = true;
  startRounds(
    Number(el<HTMLInputElement>('start-count').value),
    el<HTMLDialogElement>('token-dialog'),
    el<HTMLInputElement>('admin-token'),
  )
    .then((r) => {
      result.textContent = r.message;
      result.className = r.ok ? 'hint ok' : 'hint bad';
    })
    .catch((e: unknown) => {
      result.textContent = `could not reach the coordinator: ${errorMessage(e)}`;
      result.className = 'hint bad';
    })
    .finally(() => (button.disabled = false));
});

// Tests and kiosks read the chart's contents here.
(window as unknown as { fedserveChart: MetricsChart }).fedserveChart = chart;
