import { buildWebBundle, defaultWebDir } from '../server/web/bundle.js';

// `npm run build:web [-- OUT_DIR]`: bundles the browser client and the dashboard (the coordinator
// also does this by itself on first request when the bundle is missing or stale).
const outDir = process.argv[2] ?? defaultWebDir();
const started = performance.now();
const manifest = await buildWebBundle(outDir);
console.log(`web bundle: ${manifest.files.join(', ')} -> ${outDir} in ${Math.round(performance.now() - started)} ms`);
