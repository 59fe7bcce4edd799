// Loaded into Stryker's own process (npm run mutation) and its checker processes (checkerNodeArgs): hands their `import ts from 'typescript'`
// the TypeScript 5 API, since TypeScript 7, the project's compiler, has no JavaScript API.
import { register } from 'node:module';

register('./resolve-hooks.js', import.meta.url);
