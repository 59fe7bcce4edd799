// A Stryker ignorer: the node-level entries of stryker.config.mjs' `equivalentMutants` (those
// without a `replacement`) name nodes whose every mutant is equivalent to the original code, so no
// test can kill them; they are reported as Ignored with their reason. Entries with a `replacement`
// name one mutant each; scripts/mutation/run.ts applies those to the finished report
// (equivalent-entries.ts), since an ignorer can only decide for a whole node.
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';
import { equivalentMutants } from '../../stryker.config.mjs';

/** An ignorer for the node-level entries of `entries`. */
export function nodeIgnorer(entries) {
  const byFile = new Map();
  for (const entry of entries) {
    if (!entry.file || !entry.code || !entry.reason)
      throw new Error(`equivalentMutants entry needs file, code and reason: ${JSON.stringify(entry)}`);
    if (entry.replacement !== undefined) continue;
    byFile.set(entry.file, [...(byFile.get(entry.file) ?? []), entry]);
  }
  const entriesFor = (path) => {
    const filename = path.hub?.file?.opts?.filename?.replaceAll('\\', '/') ?? '';
    for (const [file, fileEntries] of byFile)
      if (filename.endsWith(`/${file}`) || filename === file) return fileEntries;
    return undefined;
  };
  return {
    shouldIgnore(path) {
      const fileEntries = entriesFor(path);
      if (!fileEntries) return undefined;
      const source = path.getSource();
      const hit = fileEntries.find((e) => e.code === source);
      return hit ? `equivalent: ${hit.reason}` : undefined;
    },
  };
}

export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, 'equivalent', nodeIgnorer(equivalentMutants))];
