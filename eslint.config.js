// `npm run lint` (with `prettier --check .`). ESLint, typescript-eslint and the TypeScript 5 API
// they need come from the nested package scripts/lint (fedserve-lint): TypeScript 7, the project's
// compiler, has no JavaScript API.
import { builtinModules } from 'node:module';
import { defineConfig } from 'eslint/config';
import { tseslint } from 'fedserve-lint';
import layers from './scripts/layers/layers.json' with { type: 'json' };

/** The layer rules of scripts/layers/layers.json as no-restricted-imports (the test in test/scripts/layers checks them too). */
function layerRules() {
  const all = Object.keys(layers.mayImport);
  const layerPatterns = (layer) =>
    all
      .filter((other) => !layers.mayImport[layer].includes(other))
      .map((other) => ({
        group: [`**/${other}/**`],
        message: `${layer}/ may not import ${other}/ (README, Architecture)`,
      }));
  const nodeOnly = {
    group: ['node:*', ...builtinModules, '**/*.node.js'],
    message: 'isomorphic code (runs in browsers too) imports no Node builtin and no Node-only *.node.ts module',
  };
  const rule = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
  return [
    ...all.map((layer) => ({
      name: `layers/${layer}`,
      files: [`${layer}/**/*.ts`],
      rules: rule(layerPatterns(layer)),
    })),
    // After the layer blocks: for a file two blocks match, the last no-restricted-imports wins, so it repeats the layer's.
    ...layers.isomorphic.map((prefix) => ({
      name: `layers/isomorphic/${prefix}`,
      files: [`${prefix}**/*.ts`],
      ignores: ['**/*.node.ts'],
      rules: rule([nodeOnly, ...layerPatterns(prefix.split('/')[0])]),
    })),
  ];
}

export default defineConfig(
  {
    ignores: ['**/node_modules/**', 'dist/**', 'types/**', 'reports/**', '.stryker-tmp/**', '**/*.js', '**/*.mjs'],
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts', 'vitest.package.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Numbers and booleans in messages are idiomatic and print as expected; nullish values, arrays and objects stay flagged.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // noUncheckedIndexedAccess is off: `!` marks lookups known present, where a runtime check would be dead code.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `() => resolve()` and `(x) => void f(x)` style callbacks return nothing by intent.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // noUncheckedIndexedAccess is off, so it calls every bounds check of an indexed read (and of values third-party types declare non-null) unnecessary.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // async marks functions whose errors must reach the caller as rejections, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
      // `_`-named bindings drop a property from a rest copy or mark a tuple slot unused.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read untyped JSON bodies and poke at internals; expect() checks the values at run time.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Tests hand fakes (a request, a backend) to code that expects a class instance.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  ...layerRules(),
);
