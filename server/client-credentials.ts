import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { tokenMatches } from './auth.js';

/**
 * Per-client join credentials: a JSON file mapping each client name to its own token. A token
 * admits only its name, and a name has one live connection at a time (a newer one replaces the
 * older), so one person cannot contribute to a round more than once without holding several
 * credentials: the sybil defence that a clip norm C per client relies on. The shared join token
 * is then refused. Without this file every holder of the shared token picks its own names, and
 * can join as many clients as it likes (not sybil-resistant).
 */
const NAME = /^[\w.@:-]+$/;
const ClientTokensFile = z
  .record(z.string(), z.string().min(16, 'per-client tokens must have at least 16 characters'))
  .refine((m) => Object.keys(m).length > 0, 'it names no client')
  .superRefine((m, ctx) => {
    for (const name of Object.keys(m)) {
      if (!(NAME.test(name) && name.length <= 64))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'client names use letters, digits and . _ @ : - (at most 64)',
        });
    }
  });

export class ClientCredentials {
  private constructor(private readonly tokens: ReadonlyMap<string, string>) {}

  /** Reads and checks the file; an error names the file and what is wrong with it. */
  static load(file: string): ClientCredentials {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(
        `client tokens file ${file} cannot be read as JSON: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    const parsed = ClientTokensFile.safeParse(raw);
    if (!parsed.success) throw new Error(`client tokens file ${file} is malformed: ${z.prettifyError(parsed.error)}`);
    const byToken = new Map<string, string>();
    for (const [name, token] of Object.entries(parsed.data)) {
      const other = byToken.get(token);
      // One token for two names would let its holder join as both.
      if (other !== undefined)
        throw new Error(
          `client tokens file ${file}: '${other}' and '${name}' share a token; give every client its own`,
        );
      byToken.set(token, name);
    }
    return new ClientCredentials(new Map(Object.entries(parsed.data)));
  }

  get size(): number {
    return this.tokens.size;
  }

  /** Why a join with this name and token is refused, or undefined when the token is that name's. */
  refusal(name: string | undefined, token: string): string | undefined {
    if (name === undefined)
      return 'this coordinator admits clients by per-client tokens: join with the name your token was issued for (client --name)';
    const expected = this.tokens.get(name);
    // Compared even for an unknown name, so the answer takes as long either way.
    const matches = tokenMatches(token, expected ?? '');
    return expected !== undefined && matches
      ? undefined
      : `wrong token for client '${name}' (each per-client token admits only its own name)`;
  }
}
