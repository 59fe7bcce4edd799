// Types of equivalent-mutants.js (a plain ES module, as Stryker loads its plugins), for its tests.
export interface IgnorerPath {
  hub?: { file?: { opts?: { filename?: string } } };
  getSource(): string;
}

export function nodeIgnorer(entries: readonly { file: string; code: string; replacement?: string; reason: string }[]): {
  shouldIgnore(path: IgnorerPath): string | undefined;
};

export const strykerPlugins: unknown[];
