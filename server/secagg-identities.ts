import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { JoinAuth } from '../shared/protocol/messages.js';
import { identityKeyFromText, IdentityKeyTextSchema } from '../shared/protocol/secagg-messages.js';
import { removeTempFilesSync, replaceFileSync, type SyncFileSystem } from './store/atomic-file.js';

/**
 * The Ed25519 identity keys clients register at join, relayed to their peers in every secure
 * round's roster. A named client is bound to the first key it joined with, and the binding is
 * kept in the data dir across restarts: peers pin the keys they have seen and refuse a roster
 * that changes one, so letting a name come back with a new key would only make every round with
 * it abort. Clients without a name get a fresh id per connection, so any key is new.
 */
const RegistryFile = z.record(z.string(), IdentityKeyTextSchema);

export class IdentityRegistry {
  private readonly keys = new Map<string, string>();
  private readonly named = new Set<string>();

  /**
   * `file`: where named clients' keys persist (JSON, replaced atomically and fsynced on every
   * change); none keeps them in memory only. A damaged file stops the start with an error: the
   * bindings keep one client from taking over another's name, so they are never dropped silently.
   */
  constructor(
    private readonly file?: string,
    private readonly fsys?: SyncFileSystem,
  ) {
    if (!file) return;
    removeTempFilesSync(file, fsys);
    if (!existsSync(file)) return;
    const remedy =
      'restore it from a backup, or delete it (every named client then binds its name anew to the key it next joins with)';
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`identity registry ${file} is not valid JSON (${(e as Error).message}); ${remedy}`);
    }
    const parsed = RegistryFile.safeParse(raw);
    if (!parsed.success)
      throw new Error(`identity registry ${file} is malformed: ${z.prettifyError(parsed.error)}; ${remedy}`);
    for (const [name, key] of Object.entries(parsed.data)) {
      this.keys.set(name, key);
      this.named.add(name);
    }
  }

  /**
   * Why this join must be refused, or undefined. Secure aggregation needs every client's key; without
   * it a keyless join is let in, but never under a name already bound to a key.
   */
  admit(join: JoinAuth, { requireKey }: { requireKey: boolean }): string | undefined {
    const known = join.name === undefined ? undefined : this.keys.get(join.name);
    if (!join.identityKey) {
      if (requireKey)
        return 'secure aggregation is on: the client must present an Ed25519 identity key (upgrade the client)';
      if (known !== undefined)
        return `client name '${join.name}' is bound to an identity key; a join under it must present that key`;
      return undefined;
    }
    if (known !== undefined && known !== join.identityKey) {
      return (
        `client name '${join.name}' is registered with another identity key; start the client with the identity it ` +
        'joined with first (fedserve client --identity FILE, or the browser that first joined under this name) or join under another name'
      );
    }
    return undefined;
  }

  /** Records the key of an admitted join under its client id. */
  register(id: string, join: JoinAuth): void {
    if (!join.identityKey || this.keys.get(id) === join.identityKey) return;
    this.keys.set(id, join.identityKey);
    if (join.name === undefined) return;
    this.named.add(id);
    this.persist();
  }

  /** The key as registered (text), as cluster nodes pass it on. */
  textOf(id: string): string | undefined {
    return this.keys.get(id);
  }

  keyOf(id: string): Uint8Array | undefined {
    const text = this.keys.get(id);
    return text === undefined ? undefined : identityKeyFromText(text);
  }

  private persist(): void {
    if (!this.file) return;
    const out: Record<string, string> = {};
    for (const name of [...this.named].sort()) out[name] = this.keys.get(name)!;
    replaceFileSync(this.file, `${JSON.stringify(out, null, 2)}\n`, this.fsys);
  }
}
