import { Worker } from 'node:worker_threads';

/**
 * Starts the worker thread whose entry is `name` (.ts or .js, without extension) next to `base`
 * (the caller's import.meta.url). Code runs from source under tsx (.ts) or compiled (.js); a .ts
 * worker needs tsx's loader registered inside the worker before its entry is imported
 * (`--import tsx` in execArgv does not reach a worker's entry module on Node 20).
 */
export function startWorker(base: string, name: string, workerData: unknown): Worker {
  const fromSource = base.endsWith('.ts');
  const entry = new URL(`./${name}${fromSource ? '.ts' : '.js'}`, base);
  if (!fromSource) return new Worker(entry, { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
