import type { Dataset } from '../../shared/data/dataset.js';
import type { TaskInfo } from '../../shared/protocol/messages.js';
import { parseCsv } from '../../shared/data/text-formats.js';
import { imageFeatures, labelFromPath } from './image-pixels.js';
import { decodeShard } from '../../shared/data/shard-codec.js';

/**
 * Where the page's local data comes from. Files are read in the page; only the demo shard is
 * downloaded (public digits, the same ones `--data mnist:<i>/<n>` gives a Node client).
 */
export type DataChoice =
  | { kind: 'mnist'; shard: number; shards: number }
  | { kind: 'csv'; file: File; labelColumn: string }
  | { kind: 'images'; files: File[] };

/** The `data=` page parameter: only the demo shard can be named in a URL. */
export function parseDataParam(value: string): Extract<DataChoice, { kind: 'mnist' }> {
  const m = /^mnist:(\d+)\/(\d+)$/.exec(value);
  if (!m)
    throw new Error(`data=${value}: expected mnist:<i>/<n> (shard i of n, 0-based); pick files with the form instead`);
  const choice = { kind: 'mnist' as const, shard: Number(m[1]), shards: Number(m[2]) };
  if (choice.shards < 1 || choice.shard >= choice.shards)
    throw new Error(`data=${value}: shard index must be in 0..${choice.shards - 1}`);
  return choice;
}

export function describeChoice(choice: DataChoice): string {
  switch (choice.kind) {
    case 'mnist':
      return `demo MNIST shard ${choice.shard} of ${choice.shards}`;
    case 'csv':
      return `CSV file ${choice.file.name}`;
    case 'images':
      return `${choice.files.length} image file(s)`;
    default: {
      const never: never = choice;
      throw new Error(`unknown data choice ${JSON.stringify(never)}`);
    }
  }
}

async function fetchMnistShard(shard: number, shards: number): Promise<Dataset> {
  const res = await fetch(`/web/data/mnist/${shard}/${shards}`);
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    throw new Error(`could not load the demo shard: ${body.error ?? `HTTP ${res.status}`}`);
  }
  return decodeShard(new Uint8Array(await res.arrayBuffer()));
}

async function decodeImage(file: File, width: number, height: number): Promise<Uint8ClampedArray> {
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode().catch(() => {
      throw new Error(`${file.name} is not an image this browser can decode`);
    });
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('this browser has no 2D canvas to scale images with');
    ctx.drawImage(img, 0, 0, width, height);
    return ctx.getImageData(0, 0, width, height).data;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Images scaled to the task's input (height x width x 1 or 3 channels), labelled by path. */
async function imagesDataset(files: File[], task: TaskInfo): Promise<Dataset> {
  const [height, width, channels = 1] = task.inputShape;
  if (task.inputShape.length < 2 || task.inputShape.length > 3 || (channels !== 1 && channels !== 3)) {
    throw new Error(
      `task ${task.name} takes inputs of shape [${task.inputShape.join(',')}], not images (height x width x 1 or 3)`,
    );
  }
  if (files.length === 0) throw new Error('pick at least one image file');
  const f = height * width * channels;
  const x = new Float32Array(files.length * f);
  const y = new Int32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    const path = file.webkitRelativePath || file.name;
    const label = labelFromPath(path);
    if (label === undefined)
      throw new Error(
        `${path}: no label; put it in a folder named by its class (7/${file.name}) or start its name with it (7_${file.name})`,
      );
    if (label >= task.numClasses)
      throw new Error(`${path}: label ${label}, task ${task.name} has classes 0..${task.numClasses - 1}`);
    x.set(imageFeatures(await decodeImage(file, width, height), width, height, channels), i * f);
    y[i] = label;
  }
  return { x, y, n: files.length, inputShape: [height, width, channels], numClasses: task.numClasses };
}

/** Loads the chosen data; images need the task's input shape to be scaled to. */
export async function loadChoice(choice: DataChoice, task: TaskInfo): Promise<Dataset> {
  switch (choice.kind) {
    case 'mnist':
      return fetchMnistShard(choice.shard, choice.shards);
    case 'csv':
      return parseCsv(await choice.file.text(), choice.file.name, choice.labelColumn);
    case 'images':
      return imagesDataset(choice.files, task);
    default: {
      const never: never = choice;
      throw new Error(`unknown data choice ${JSON.stringify(never)}`);
    }
  }
}
