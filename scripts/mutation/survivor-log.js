// A Stryker reporter: appends each surviving mutant to the file named by MUTATION_SURVIVOR_LOG as
// soon as it survives, so tests can be written while a long run goes on.
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { declareClassPlugin, PluginKind } from '@stryker-mutator/api/plugin';

// Locations reach reporters as mutation.json has them: lines and columns both 1-based.
class SurvivorLog {
  onMutantTested(result) {
    const file = process.env.MUTATION_SURVIVOR_LOG;
    if (!file || (result.status !== 'Survived' && result.status !== 'NoCoverage')) return;
    const { line, column } = result.location.start;
    appendFileSync(
      file,
      `${relative(process.cwd(), result.fileName)}:${line}:${column} ${result.status} ${result.mutatorName} -> ${JSON.stringify(result.replacement)}\n`,
    );
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, 'survivor-log', SurvivorLog)];
