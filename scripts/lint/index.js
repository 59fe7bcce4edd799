// The lint toolchain for the root eslint.config.js, resolved from here so typescript-eslint finds TypeScript 5.
export { default as tseslint } from 'typescript-eslint';
