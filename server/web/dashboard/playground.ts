/**
 * The playground: draw a digit (or drop an image) on a canvas, send it to any served version's
 * :explain endpoint, and show the class probabilities with the integrated-gradients attributions
 * laid over the 28x28 input (red: pushes towards the predicted class, blue: against it).
 */
export interface PlaygroundElements {
  pad: HTMLCanvasElement;
  overlay: HTMLCanvasElement;
  version: HTMLSelectElement;
  explain: HTMLButtonElement;
  clear: HTMLButtonElement;
  probs: HTMLElement;
  status: HTMLElement;
}

const SIDE = 28;

interface ExplainResponse {
  model_version: number;
  explanations: { target: number; prediction: number[]; attributions: unknown }[];
}

export class Playground {
  private drawing = false;

  constructor(
    private readonly ui: PlaygroundElements,
    private readonly modelName: () => string,
  ) {
    this.clear();
    const at = (e: PointerEvent) => {
      const r = ui.pad.getBoundingClientRect();
      return [
        ((e.clientX - r.left) * ui.pad.width) / r.width,
        ((e.clientY - r.top) * ui.pad.height) / r.height,
      ] as const;
    };
    const ctx = ui.pad.getContext('2d')!;
    ui.pad.addEventListener('pointerdown', (e) => {
      this.drawing = true;
      ctx.beginPath();
      ctx.moveTo(...at(e));
    });
    ui.pad.addEventListener('pointermove', (e) => {
      if (!this.drawing) return;
      ctx.lineTo(...at(e));
      ctx.stroke();
    });
    const stop = () => {
      this.drawing = false;
    };
    ui.pad.addEventListener('pointerup', stop);
    ui.pad.addEventListener('pointerleave', stop);
    ui.pad.addEventListener('dragover', (e) => e.preventDefault());
    ui.pad.addEventListener('drop', (e) => {
      e.preventDefault();
      const file = e.dataTransfer?.files[0];
      if (file) void this.drop(file);
    });
    ui.clear.addEventListener('click', () => this.clear());
    ui.explain.addEventListener('click', () => void this.run());
  }

  /** The versions to offer, newest first; the current version is always the first choice. */
  setVersions(versions: readonly number[]): void {
    const chosen = this.ui.version.value;
    const options = [
      new Option('current', ''),
      ...[...versions].sort((a, b) => b - a).map((v) => new Option(`v${v}`, String(v))),
    ];
    this.ui.version.replaceChildren(...options);
    if (options.some((o) => o.value === chosen)) this.ui.version.value = chosen;
  }

  private clear(): void {
    const ctx = this.ui.pad.getContext('2d')!;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, this.ui.pad.width, this.ui.pad.height);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = this.ui.pad.width / 14;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    this.ui.overlay.getContext('2d')!.clearRect(0, 0, this.ui.overlay.width, this.ui.overlay.height);
    this.ui.probs.replaceChildren();
  }

  private async drop(file: File): Promise<void> {
    const bitmap = await createImageBitmap(file);
    this.ui.pad.getContext('2d')!.drawImage(bitmap, 0, 0, this.ui.pad.width, this.ui.pad.height);
  }

  /** The pad as 784 grayscale values in [0, 1], like the training images (white on black). */
  pixels(): number[] {
    const small = document.createElement('canvas');
    small.width = SIDE;
    small.height = SIDE;
    const ctx = small.getContext('2d')!;
    ctx.drawImage(this.ui.pad, 0, 0, SIDE, SIDE);
    const rgba = ctx.getImageData(0, 0, SIDE, SIDE).data;
    return Array.from({ length: SIDE * SIDE }, (_, i) => (rgba[i * 4] + rgba[i * 4 + 1] + rgba[i * 4 + 2]) / (3 * 255));
  }

  private async run(): Promise<void> {
    const version = this.ui.version.value;
    const path = `/v1/models/${encodeURIComponent(this.modelName())}${version ? `/versions/${version}` : ''}:explain`;
    this.ui.explain.disabled = true;
    this.ui.status.textContent = 'explaining...';
    try {
      const res = await fetch(path, {
        method: 'POST',
        body: JSON.stringify({ instances: [this.pixels()], steps: 32 }),
      });
      const body = (await res.json()) as ExplainResponse & { error?: string };
      if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
      this.show(body);
    } catch (e) {
      this.ui.status.textContent = `could not explain: ${(e as Error).message}`;
    } finally {
      this.ui.explain.disabled = false;
    }
  }

  private show(body: ExplainResponse): void {
    const e = body.explanations[0];
    this.ui.status.textContent = `version ${body.model_version}: class ${e.target} (${(e.prediction[e.target] * 100).toFixed(1)}%)`;
    this.ui.probs.dataset.version = String(body.model_version);
    this.ui.probs.dataset.top = String(e.target);
    this.ui.probs.replaceChildren(
      ...e.prediction.map((p, c) => {
        const row = document.createElement('div');
        row.className = c === e.target ? 'prob top' : 'prob';
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.style.width = `${(p * 100).toFixed(1)}%`;
        row.append(`${c}`, bar, `${(p * 100).toFixed(1)}%`);
        return row;
      }),
    );
    const values = (e.attributions as unknown[]).flat(2) as number[];
    const max = Math.max(...values.map(Math.abs));
    const ctx = this.ui.overlay.getContext('2d')!;
    const cell = this.ui.overlay.width / SIDE;
    ctx.clearRect(0, 0, this.ui.overlay.width, this.ui.overlay.height);
    values.forEach((v, i) => {
      if (max === 0 || v === 0) return;
      const a = Math.min(1, Math.abs(v) / max);
      ctx.fillStyle = v > 0 ? `rgba(220, 38, 38, ${a})` : `rgba(37, 99, 235, ${a})`;
      ctx.fillRect((i % SIDE) * cell, Math.floor(i / SIDE) * cell, cell, cell);
    });
    this.ui.overlay.dataset.maxAttribution = String(max);
  }
}
