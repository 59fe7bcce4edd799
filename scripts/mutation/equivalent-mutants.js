// A Stryker ignorer: the mutants listed in stryker.config.mjs (`equivalentMutants`) are equivalent
// to the original code, so no test can kill them; they are reported as Ignored with their reason.
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';
import { equivalentMutants } from '../../stryker.config.mjs';

const byFile = new Map();
for (const entry of equivalentMutants) {
  if (!entry.file || !entry.code || !entry.reason)
    throw new Error(`equivalentMutants entry needs file, code and reason: ${JSON.stringify(entry)}`);
  byFile.set(entry.file, [...(byFile.get(entry.file) ?? []), entry]);
}

function entriesFor(path) {
  const filename = path.hub?.file?.opts?.filename?.replaceAll('\\', '/') ?? '';
  for (const [file, entries] of byFile) if (filename.endsWith(`/${file}`) || filename === file) return entries;
  return undefined;
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'equivalent', {
    shouldIgnore(path) {
      const entries = entriesFor(path);
      if (!entries) return undefined;
      const source = path.getSource();
      const hit = entries.find((e) => e.code === source);
      return hit ? `equivalent: ${hit.reason}` : undefined;
    },
  }),
];
