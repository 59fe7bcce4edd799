import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'esbuild';
import { z } from 'zod';
import type { Logger } from '../logger.js';

/**
 * The browser bundle: the client page and the dashboard, built with esbuild into dist/web along
 * with their static HTML and CSS. The package is packed with it built (`npm run build`). In a
 * checkout the coordinator builds it on first use when it is missing or older than its sources,
 * so a fresh clone works after `npm ci` without a separate step.
 */

/**
 * True when this module runs from the TypeScript sources (a checkout, under tsx or vitest), false
 * when it runs compiled, as in an installed package.
 */
export const RUNS_FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The repository (or installed package) root: the nearest folder above this file with package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

export function defaultWebDir(): string {
  return join(packageRoot(), 'dist', 'web');
}

/** Bundled scripts: output name -> entry point, relative to the package root. */
const ENTRIES = {
  client: 'client/browser/client-page.ts',
  dashboard: 'server/web/dashboard/dashboard-page.ts',
  /** The client page's training replicas, started as module Web Workers (WebWorkerTrainer). */
  'training-worker': 'client/browser/training-worker.ts',
} as const;
/** Copied as they are. */
const STATIC_DIR = 'server/web/static';
const STATIC_FILES = ['client.html', 'dashboard.html', 'style.css'] as const;

const ManifestSchema = z.strictObject({
  builtAt: z.number(),
  /** Every source file the bundle was made from, relative to the package root. */
  inputs: z.array(z.string()),
  /** Every file in the web dir, relative to it. */
  files: z.array(z.string()),
  /** Files that also have a gzipped copy at `<name>.gz`, for browsers that accept gzip. */
  gzipped: z.array(z.string()),
});
export type WebManifest = z.infer<typeof ManifestSchema>;

const MANIFEST = 'manifest.json';
/** Worth compressing: the scripts are megabytes of text, a lot for a phone on a slow link. */
const COMPRESSIBLE = /\.(js|css|html)$/;

/** Temp file + rename, so a server reading the dir never sees half a file. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * Browser-bundled modules are isomorphic (the layer rules and tsconfig.browser.json keep them so): a
 * node builtin imported from any of them fails the build rather than failing in a browser at run time.
 */
function refuseNodeBuiltins(root: string): Plugin {
  return {
    name: 'refuse-node-builtins',
    setup(build) {
      build.onResolve({ filter: /^node:/ }, (args) => {
        const importer = relative(root, args.importer).split(sep).join('/');
        return {
          errors: [
            {
              text: `${importer} imports ${args.path}, which browsers do not have; keep browser-bundled modules isomorphic`,
            },
          ],
        };
      });
    },
  };
}

/** Builds the bundle into `outDir` (default dist/web) and returns its manifest. Needs esbuild (a dev dependency). */
export async function buildWebBundle(outDir = defaultWebDir()): Promise<WebManifest> {
  const root = packageRoot();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [refuseNodeBuiltins(root)],
    outdir: outDir,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const files: string[] = [];
  for (const file of result.outputFiles) {
    await writeAtomic(file.path, file.contents);
    files.push(relative(outDir, file.path));
  }
  for (const name of STATIC_FILES) {
    await writeAtomic(join(outDir, name), await readFile(join(root, STATIC_DIR, name)));
    files.push(name);
  }
  const gzipped = files.filter((f) => COMPRESSIBLE.test(f));
  for (const name of gzipped)
    await writeAtomic(join(outDir, `${name}.gz`), gzipSync(await readFile(join(outDir, name)), { level: 9 }));
  const inputs = [
    ...Object.keys(result.metafile.inputs).filter((p) => !p.includes(':')),
    ...STATIC_FILES.map((n) => `${STATIC_DIR}/${n}`),
  ];
  const manifest: WebManifest = { builtAt: Date.now(), inputs, files, gzipped };
  await writeAtomic(join(outDir, MANIFEST), JSON.stringify(manifest));
  return manifest;
}

async function readManifest(dir: string): Promise<WebManifest | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST), 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ManifestSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** True when a source the bundle was built from changed after the build (a missing source cannot). */
async function isStale(manifest: WebManifest, root: string): Promise<boolean> {
  const times = await Promise.all(
    manifest.inputs.map((p) =>
      stat(join(root, p)).then(
        (s) => s.mtimeMs,
        () => 0,
      ),
    ),
  );
  return times.some((t) => t > manifest.builtAt);
}

/**
 * The bundle's manifest, building first when it is missing or stale. Where esbuild is not
 * installed (a production install) an existing bundle is used as it is.
 */
export async function ensureWebBundle(dir = defaultWebDir(), logger?: Logger): Promise<WebManifest> {
  const manifest = await readManifest(dir);
  if (manifest && !(await isStale(manifest, packageRoot()))) return manifest;
  const started = performance.now();
  try {
    const built = await buildWebBundle(dir);
    logger?.info(`built the web bundle into ${dir} in ${Math.round(performance.now() - started)} ms`);
    return built;
  } catch (e) {
    if (manifest) {
      logger?.warn(
        `could not rebuild the web bundle (${(e as Error).message.split('\n')[0]}); serving the existing one`,
      );
      return manifest;
    }
    throw new Error(
      `the web bundle is missing from ${dir} and could not be built (run npm run build:web): ${(e as Error).message}`,
    );
  }
}

export interface LoadWebBundleOptions {
  /** Build the bundle when it is missing or stale; default: only when running from the sources. */
  build?: boolean;
  logger?: Logger;
}

/**
 * The manifest of the bundle in `dir`, built first if `build` says so. Otherwise (an installed
 * package) the bundle built at pack time is used as it is: the coordinator never writes into its
 * own install directory, which may be read-only or shared, so a missing bundle is an error.
 */
export async function loadWebBundle(dir = defaultWebDir(), opts: LoadWebBundleOptions = {}): Promise<WebManifest> {
  if (opts.build ?? RUNS_FROM_SOURCE) return ensureWebBundle(dir, opts.logger);
  const manifest = await readManifest(dir);
  if (!manifest) {
    throw new Error(
      `the web bundle is missing from ${dir} (no valid ${MANIFEST}): this fedserve install is incomplete; reinstall the package, which ships it prebuilt`,
    );
  }
  return manifest;
}
