import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, normalize, relative, sep } from 'node:path';
import layers from './layers.json' with { type: 'json' };

/**
 * The layer rules of README's Architecture section, checked over the import statements of the
 * sources: which top-level folder may import which (layers.json), and that isomorphic code (shared/
 * outside *.node.ts, and the browser pages) imports no Node builtin and no Node-only module.
 */

export type Layer = keyof typeof layers.mayImport;
export const LAYERS = Object.keys(layers.mayImport) as Layer[];

export interface SourceFile {
  /** Relative to the repository root, with forward slashes. */
  path: string;
  text: string;
}

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

function isLayer(name: string): name is Layer {
  return (LAYERS as string[]).includes(name);
}

/** The layer a repository path belongs to, or undefined outside the layered folders (test/, bench/, scripts/). */
export function layerOf(path: string): Layer | undefined {
  const top = path.split('/')[0];
  return isLayer(top) ? top : undefined;
}

/** Whether the file must run in browsers as well as Node. */
export function isIsomorphic(path: string): boolean {
  return !path.endsWith('.node.ts') && layers.isomorphic.some((prefix) => path.startsWith(prefix));
}

const NODE_BUILTINS = new Set(builtinModules);

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || NODE_BUILTINS.has(specifier.split('/')[0]);
}

// Strings are kept (import specifiers are strings); comments are dropped, so an import quoted in
// a comment is not taken for a real one.
const STRING_OR_COMMENT = /('(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g;
const IMPORT =
  /\b(?:import|export)\s+(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module specifier a TypeScript source imports or re-exports, static or dynamic. */
export function importSpecifiers(text: string): string[] {
  const code = text.replace(STRING_OR_COMMENT, (match, str: string | undefined) => str ?? ' ');
  return [...code.matchAll(IMPORT)].map((m) => m[1] ?? m[2]);
}

/** The rules one file breaks. */
export function fileViolations(file: SourceFile): Violation[] {
  const from = layerOf(file.path);
  if (!from) return [];
  const violations: Violation[] = [];
  for (const specifier of importSpecifiers(file.text)) {
    if (isIsomorphic(file.path) && isNodeBuiltin(specifier)) {
      violations.push({ file: file.path, specifier, rule: 'isomorphic code imports a Node builtin' });
      continue;
    }
    if (!specifier.startsWith('.')) continue;
    const target = normalize(join(dirname(file.path), specifier))
      .split(sep)
      .join('/');
    if (isIsomorphic(file.path) && /\.node\.(js|ts)$/.test(target)) {
      violations.push({ file: file.path, specifier, rule: 'isomorphic code imports a Node-only (*.node.ts) module' });
    }
    const to = layerOf(target);
    if (to === undefined) {
      violations.push({ file: file.path, specifier, rule: `${from}/ imports from outside the layers` });
    } else if (!layers.mayImport[from].includes(to)) {
      violations.push({ file: file.path, specifier, rule: `${from}/ may not import ${to}/` });
    }
  }
  return violations;
}

/** The TypeScript sources of the layered folders under `root`. */
export function readLayerSources(root: string): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts'))
        files.push({ path: relative(root, full).split(sep).join('/'), text: readFileSync(full, 'utf8') });
    }
  };
  for (const layer of LAYERS) walk(join(root, layer));
  return files;
}

export function layerViolations(files: SourceFile[]): Violation[] {
  return files.flatMap(fileViolations);
}
