import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../../shared/engine/backend.js';

/** Where the coordinator serves the tfjs wasm binaries (server/web/handler.ts). */
export const WASM_PATH = '/web/tfjs-wasm/';

/** `backend=` page parameter: auto picks WebGL on a real GPU, else WebAssembly. */
export type BrowserBackend = 'auto' | 'webgl' | 'wasm' | 'cpu';

export function parseBackendParam(value: string | null): BrowserBackend {
  const v = value ?? 'auto';
  if (v === 'auto' || v === 'webgl' || v === 'wasm' || v === 'cpu') return v;
  throw new Error(`backend=${v}: expected auto, webgl, wasm or cpu`);
}

/** True when WebGL runs on a GPU: a software renderer (SwiftShader, llvmpipe) trains slower than wasm. */
function hasHardwareWebGl(): boolean {
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (!gl) return false;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
  return !/swiftshader|llvmpipe|software/i.test(renderer);
}

/** Starts the chosen backend and returns a line saying which one runs. */
export async function startBrowserBackend(choice: BrowserBackend): Promise<string> {
  if (choice === 'webgl' || (choice === 'auto' && hasHardwareWebGl())) {
    if (await tf.setBackend('webgl')) return "TensorFlow.js backend 'webgl' - WebGL on the GPU";
    if (choice === 'webgl') throw new Error('the WebGL backend did not start in this browser; try backend=wasm');
  }
  let line = '';
  await setupBackend(choice === 'cpu' ? 'cpu' : 'wasm', { wasmPath: WASM_PATH, log: (l) => (line = l) });
  return line.replace(/^fedserve: /, '');
}
