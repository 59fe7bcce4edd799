// Stryker's core (its tsconfig rewriting) and its type checker.
const STRYKER = '/@stryker-mutator/';

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'typescript' && context.parentURL?.includes(STRYKER))
    return nextResolve('fedserve-typescript-api', context);
  return nextResolve(specifier, context);
}
