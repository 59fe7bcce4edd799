// `npm run lint` runs ESLint through this file. npm hoists typescript-eslint's helpers (ts-api-utils
// among them) to the root node_modules, where `require('typescript')` finds TypeScript 7, which has
// no JavaScript API. So every `typescript` require in this process is answered with this package's
// TypeScript 5, as scripts/mutation/typescript-api does for Stryker.
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const typescript5 = dirname(require.resolve('typescript/package.json'));
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'typescript') return resolveFilename.call(this, typescript5, ...rest);
  if (request.startsWith('typescript/'))
    return resolveFilename.call(this, join(typescript5, request.slice('typescript/'.length)), ...rest);
  return resolveFilename.call(this, request, ...rest);
};

const eslintPackage = require.resolve('eslint/package.json');
const { bin } = require('eslint/package.json');
await import(pathToFileURL(join(dirname(eslintPackage), typeof bin === 'string' ? bin : bin.eslint)).href);
