import type { Dataset } from '../../shared/data/dataset.js';
import type { TaskInfo } from '../../shared/protocol/messages.js';
import type { RoundOutcome } from '../node-client.js';
import type { Progress } from '../progress.js';
import type { Prediction } from './global-model.js';

/** The page's lifecycle, mirrored on <body data-state> for kiosks and tests to wait on. */
export type PageState = 'idle' | 'loading' | 'joined' | 'stopped' | 'failed';

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the page's HTML fixes each id's element type
function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** Everything the client page shows; no logic beyond formatting. */
export class ClientView {
  private readonly logList = el<HTMLOListElement>('log');

  setState(state: PageState, text: string): void {
    document.body.dataset.state = state;
    el('connection').textContent = text;
    el<HTMLButtonElement>('join').disabled = state === 'loading' || state === 'joined';
  }

  log(text: string): void {
    const item = document.createElement('li');
    item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    this.logList.append(item);
    item.scrollIntoView({ block: 'nearest' });
  }

  backend(text: string): void {
    el('backend').textContent = text;
  }

  /** How many threads local training uses, and how it came to that number. */
  threads(used: number, description: string): void {
    const node = el('threads-used');
    node.dataset.threads = String(used);
    node.textContent = `${used} (${description})`;
  }

  task(task: TaskInfo): void {
    el('data-summary').dataset.task = task.name;
    if (!el('data-summary').dataset.examples) {
      el('data-summary').textContent =
        `task ${task.name}: inputs [${task.inputShape.join('x')}], ${task.numClasses} classes`;
    }
  }

  data(ds: Dataset, source: string, heldOut: number): void {
    const counts = new Array<number>(ds.numClasses).fill(0);
    for (let i = 0; i < ds.n; i++) counts[ds.y[i]]++;
    const summary = el('data-summary');
    summary.dataset.examples = String(ds.n);
    const held = heldOut > 0 ? ` (${heldOut} held out for evaluation)` : '';
    summary.textContent = `${ds.n} examples from ${source}${held}; per class: ${counts.join(' / ')}`;
    el<HTMLInputElement>('predict-index').max = String(ds.n - 1);
  }

  globalVersion(version: number): void {
    const node = el('global-version');
    node.textContent = String(version);
    node.dataset.version = String(version);
    el<HTMLButtonElement>('predict').disabled = !el('data-summary').dataset.examples;
  }

  coordinator(summary: string): void {
    el('round-status').textContent = summary;
  }

  localRound(o: RoundOutcome): void {
    const row = document.createElement('tr');
    row.dataset.round = String(o.round);
    row.dataset.accepted = String(o.accepted);
    row.dataset.trainMs = String(Math.round(o.trainMs));
    const cells = [
      String(o.round),
      String(o.numExamples),
      o.loss.toFixed(4),
      pct(o.accuracy),
      `${(o.trainMs / 1000).toFixed(1)} s`,
      o.accepted ? 'accepted' : `refused: ${o.refusal}`,
    ];
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      row.append(td);
    }
    row.lastElementChild!.className = o.accepted ? 'ok' : 'bad';
    el('local-rounds').append(row);
  }

  /** Progress of local training, in the shape the federated client reports it. */
  progress(): Progress {
    const bar = el('progress-bar');
    const text = el('progress-text');
    return {
      line: (t) => this.log(t),
      step: (round, done, total, loss) => {
        bar.style.width = `${(100 * done) / total}%`;
        text.textContent = `round ${round}: batch ${done}/${total}, loss ${loss.toFixed(4)}`;
      },
      end: (summary) => {
        bar.style.width = '0';
        text.textContent = summary;
        this.log(summary);
      },
    };
  }

  prediction(p: Prediction, ds: Dataset, index: number): void {
    const out = el('prediction');
    out.dataset.version = String(p.version);
    out.dataset.index = String(index);
    out.dataset.predicted = String(p.predictedClass);
    out.dataset.probabilities = JSON.stringify(p.probabilities);
    out.textContent = `class ${p.predictedClass} (${pct(p.probabilities[p.predictedClass])}) by version ${p.version}; label ${ds.y[index]}`;
    this.drawExample(ds, index);
  }

  /** Shows an example as an image when its shape is height x width (x 1 or 3). */
  private drawExample(ds: Dataset, index: number): void {
    const [h, w, c = 1] = ds.inputShape;
    const canvas = el<HTMLCanvasElement>('predict-image');
    const ctx = canvas.getContext('2d');
    if (!ctx || ds.inputShape.length < 2 || (c !== 1 && c !== 3)) return;
    const f = h * w * c;
    const img = new ImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      for (let k = 0; k < 3; k++) img.data[p * 4 + k] = 255 * ds.x[index * f + p * c + (c === 3 ? k : 0)];
      img.data[p * 4 + 3] = 255;
    }
    const tmp = new OffscreenCanvas(w, h);
    tmp.getContext('2d')!.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
  }
}
