import { readFileSync } from 'node:fs';

/** A token kept in a file: its first line, without surrounding white space; an unreadable or empty file is an error naming it. */
export function readTokenFile(flag: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--${flag} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const token = text.split(/\r?\n/, 1)[0].trim();
  if (token === '') throw new Error(`--${flag} ${file} holds no token on its first line`);
  return token;
}
