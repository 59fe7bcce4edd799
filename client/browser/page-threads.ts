import { defaultThreadsFor } from '../data-parallel-core.js';

/** Most Web Workers the page setting accepts: each one holds a copy of the data and a wasm engine. */
export const MAX_PAGE_THREADS = 64;

/** Default of the page's threads setting: the browser's logical cores, up to 4, as `fedserve client` does. */
export function defaultPageThreads(cores: number | undefined = navigator.hardwareConcurrency): number {
  return defaultThreadsFor(cores ?? 1);
}

/** The threads setting (`threads=` page parameter, or the form's field): a whole number in 1..MAX_PAGE_THREADS. */
export function parseThreadsSetting(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_THREADS)
    throw new Error(`training threads must be a whole number from 1 to ${MAX_PAGE_THREADS}, got '${text}'`);
  return value;
}

/** Why the page trains on `used` threads when `asked` for; `fallback` is the trainer's reason, if it fell back. */
export function describeThreads(used: number, asked: number, backend: string, fallback: string | undefined): string {
  if (used > 1) return `Web Workers, each batch split ${used} ways`;
  if (asked === 1) return 'the page itself, as set';
  if (fallback !== undefined)
    return `the page itself: asked for ${asked}, but Web Workers are unavailable (${fallback})`;
  return `the page itself: asked for ${asked}, but the '${backend}' backend is not split across workers`;
}
