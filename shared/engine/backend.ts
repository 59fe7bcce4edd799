import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './wasm/register.js';

export const BACKEND_NAMES = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Which binary tfjs-backend-wasm loads, for `wasmPath` given as a file map. */
export type WasmBinaryName =
  'tfjs-backend-wasm.wasm' | 'tfjs-backend-wasm-simd.wasm' | 'tfjs-backend-wasm-threaded-simd.wasm';

export interface BackendOptions {
  /**
   * Where the browser fetches the wasm binaries: a URL prefix ending in '/' (e.g. '/tfjs-wasm/',
   * served from `wasmBinaryDir()`), or a map from binary name to URL. Node finds them itself.
   */
  wasmPath?: string | Partial<Record<WasmBinaryName, string>>;
  /** Receives the one-line report of the choice; defaults to console.info. */
  log?: (message: string) => void;
  /** Where the overrides are read; default: process.argv / process.env in Node, none in browsers. */
  argv?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
}

interface Request {
  name: BackendName | undefined;
  source: string;
}

function nodeProcess(): { argv: string[]; env: Record<string, string | undefined> } | undefined {
  const p = (
    globalThis as {
      process?: { versions?: { node?: string }; argv: string[]; env: Record<string, string | undefined> };
    }
  ).process;
  return p?.versions?.node ? p : undefined;
}

export function isBackendName(value: string): value is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(value);
}

function parseName(value: string, source: string): BackendName {
  const name = value.trim().toLowerCase();
  if (!isBackendName(name)) {
    throw new Error(`unknown backend '${value}' from ${source}: expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  return name;
}

/** The value of `--backend NAME` or `--backend=NAME`, if present. */
export function backendFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--backend') {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--'))
        throw new Error('--backend needs a value: tensorflow, wasm or cpu');
      return value;
    }
    if (argv[i].startsWith('--backend=')) return argv[i].slice('--backend='.length);
  }
  return undefined;
}

/** Precedence: --backend flag, then FEDSERVE_BACKEND, then the caller's preference. */
function resolveRequest(preferred: BackendName | undefined, opts: BackendOptions): Request {
  const proc = nodeProcess();
  const flag = backendFlag(opts.argv ?? proc?.argv ?? []);
  if (flag !== undefined) return { name: parseName(flag, 'the --backend flag'), source: '--backend flag' };
  const env = (opts.env ?? proc?.env ?? {}).FEDSERVE_BACKEND;
  if (env) return { name: parseName(env, 'FEDSERVE_BACKEND'), source: 'FEDSERVE_BACKEND' };
  if (preferred !== undefined) return { name: parseName(preferred, 'setupBackend()'), source: 'requested' };
  return { name: undefined, source: 'automatic' };
}

function fallbackChain(name: BackendName | undefined): BackendName[] {
  switch (name) {
    case undefined:
    case 'tensorflow':
      return ['tensorflow', 'wasm', 'cpu'];
    case 'wasm':
      return ['wasm', 'cpu'];
    case 'cpu':
      return ['cpu'];
    default: {
      const never: never = name;
      throw new Error(`unknown backend ${String(never)}`);
    }
  }
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0];
}

/** Throws with the reason when `name` cannot be used here. */
async function activate(name: BackendName, opts: BackendOptions): Promise<string> {
  switch (name) {
    case 'tensorflow': {
      if (!nodeProcess()) throw new Error('native TensorFlow exists only in Node');
      // A computed specifier keeps bundlers from pulling the native addon into browser bundles.
      const specifier = '@tensorflow/tfjs-node';
      try {
        await import(/* @vite-ignore */ specifier);
      } catch (err) {
        throw new Error(`@tensorflow/tfjs-node did not load (${errorText(err)})`);
      }
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs-node loaded but its backend failed to start');
      return 'native TensorFlow via @tensorflow/tfjs-node';
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (opts.wasmPath !== undefined) wasm.setWasmPaths(opts.wasmPath);
      await registerWasmKernels();
      if (!(await tf.setBackend('wasm')))
        throw new Error('the wasm backend failed to start (are the .wasm binaries reachable?)');
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
      return `WebAssembly (XNNPACK, ${simd}) with fedserve's training kernels`;
    }
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to start');
      return 'pure JavaScript: correct everywhere, but hundreds of times slower than wasm for training';
    default: {
      const never: never = name;
      throw new Error(`unknown backend ${String(never)}`);
    }
  }
}

/**
 * Picks and starts the TensorFlow.js backend: native TensorFlow (`@tensorflow/tfjs-node`, an
 * optional dependency) when it loads, else WebAssembly with our training kernels, else pure JS.
 * `--backend` / FEDSERVE_BACKEND (Node) override `preferred`; an unavailable choice falls back
 * down that order. Logs the choice and the reasons, and returns the backend's name.
 */
export async function setupBackend(preferred?: BackendName, opts: BackendOptions = {}): Promise<BackendName> {
  const log = opts.log ?? ((message: string) => console.info(message));
  const request = resolveRequest(preferred, opts);
  const skipped: string[] = [];
  for (const name of fallbackChain(request.name)) {
    try {
      const why = await activate(name, opts);
      const how = request.name === undefined ? 'best available' : `${request.source}: ${request.name}`;
      const notes = skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : '';
      log(`fedserve: TensorFlow.js backend '${name}' (${how}) - ${why}${notes}`);
      return name;
    } catch (err) {
      skipped.push(`${name}: ${errorText(err)}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${skipped.join('; ')}`);
}
