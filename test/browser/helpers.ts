import { existsSync } from 'node:fs';
import type { Page, WebSocket } from 'playwright-core';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (installed by .ci/run with apt-get); FEDSERVE_CHROMIUM overrides the path. */
export const CHROMIUM = process.env.FEDSERVE_CHROMIUM ?? '/usr/bin/chromium';

/** `extraArgs`: more chromium switches, e.g. a host mapping or a certificate to trust. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: install it (apt-get install chromium) or set FEDSERVE_CHROMIUM`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extraArgs],
  });
}

/** Everything a page sends: request bodies and outgoing WebSocket frames, as bytes. */
export interface Outbox {
  requests: { url: string; body: Buffer }[];
  frames: { url: string; payload: Buffer; binary: boolean }[];
}

export function watchOutgoing(page: Page): Outbox {
  const box: Outbox = { requests: [], frames: [] };
  page.on('request', (req) => box.requests.push({ url: req.url(), body: req.postDataBuffer() ?? Buffer.alloc(0) }));
  page.on('websocket', (ws: WebSocket) => {
    ws.on('framesent', ({ payload }) =>
      box.frames.push({
        url: ws.url(),
        payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
        binary: typeof payload !== 'string',
      }),
    );
  });
  return box;
}

/** A 24-bit BMP (a format every browser decodes) of a grey image given row by row, values 0..255. */
export function bmp(width: number, height: number, grey: (x: number, y: number) => number): Buffer {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const size = 54 + rowBytes * height;
  const out = Buffer.alloc(size);
  out.write('BM', 0, 'ascii');
  out.writeUInt32LE(size, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(rowBytes * height, 34);
  for (let y = 0; y < height; y++) {
    // BMP rows run bottom-up.
    const row = 54 + (height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) out.fill(grey(x, y), row + x * 3, row + x * 3 + 3);
  }
  return out;
}
