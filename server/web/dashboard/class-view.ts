import type { Evaluation } from '../../../shared/protocol/rounds.js';

/**
 * The model's behaviour per class on the coordinator's held-out data: the confusion matrix of the
 * newest evaluated version as a heatmap (each row shaded by its share of that true class), and
 * each class's accuracy (recall) over the rounds.
 */
export interface EvaluatedRound {
  round: number;
  version?: number;
  evaluation?: Evaluation;
}

function td(text: string, title = '', shade?: number): HTMLTableCellElement {
  const c = document.createElement('td');
  c.textContent = text;
  if (title) c.title = title;
  if (shade !== undefined) {
    // Blue for the diagonal's share, red for errors: darker = larger share of the true class.
    c.style.background = `rgba(37, 99, 235, ${shade.toFixed(3)})`;
    if (shade > 0.55) c.style.color = '#fff';
  }
  return c;
}

function th(text: string): HTMLTableCellElement {
  const c = document.createElement('th');
  c.textContent = text;
  return c;
}

export function renderConfusion(
  table: HTMLTableElement,
  caption: HTMLElement,
  rounds: readonly EvaluatedRound[],
): void {
  const newest = [...rounds].reverse().find((r) => r.evaluation?.confusion);
  const m = newest?.evaluation?.confusion;
  table.dataset.classes = String(m?.length ?? 0);
  if (!newest || !m) {
    caption.textContent = 'no per-class evaluation yet (the coordinator needs --eval data)';
    table.replaceChildren();
    return;
  }
  caption.textContent = `version ${newest.version ?? '-'} (round ${newest.round}): rows = true class, columns = predicted`;
  const head = document.createElement('tr');
  head.append(th('true \\ predicted'), ...m.map((_, p) => th(String(p))), th('recall'));
  const body = m.map((row, t) => {
    const support = row.reduce((a, b) => a + b, 0);
    const tr = document.createElement('tr');
    tr.append(th(String(t)));
    row.forEach((v, p) => {
      const share = support > 0 ? v / support : 0;
      const cell = td(String(v), `true ${t}, predicted ${p}: ${v} of ${support}`, share);
      if (t !== p && v > 0) cell.classList.add('off-diagonal');
      tr.append(cell);
    });
    tr.append(td(support > 0 ? `${((row[t] / support) * 100).toFixed(1)}%` : '-'));
    return tr;
  });
  table.replaceChildren(head, ...body);
}

export function renderClassAccuracy(table: HTMLTableElement, rounds: readonly EvaluatedRound[]): void {
  const evaluated = rounds.filter((r) => r.evaluation?.perClass);
  const classes = Math.max(0, ...evaluated.map((r) => r.evaluation!.perClass!.length));
  table.dataset.rounds = String(evaluated.length);
  if (evaluated.length === 0) {
    table.replaceChildren();
    return;
  }
  const head = document.createElement('tr');
  head.append(th('round'), ...Array.from({ length: classes }, (_, c) => th(`class ${c}`)));
  const body = [...evaluated].reverse().map((r) => {
    const tr = document.createElement('tr');
    tr.append(th(String(r.round)));
    for (let c = 0; c < classes; c++) {
      const m = r.evaluation!.perClass![c];
      tr.append(
        m
          ? td(
              `${(m.recall * 100).toFixed(1)}%`,
              `precision ${(m.precision * 100).toFixed(1)}%, F1 ${(m.f1 * 100).toFixed(1)}%, ${m.support} examples`,
              m.recall,
            )
          : td('-'),
      );
    }
    return tr;
  });
  table.replaceChildren(head, ...body);
}
