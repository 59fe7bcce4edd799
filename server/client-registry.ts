import type { ClientLink } from './client-link.js';

/**
 * The connected clients, one link per client id, and which of them declined to evaluate (no
 * held-out data): those are not asked again while they stay connected.
 */
export class ClientRegistry {
  private readonly links = new Map<string, ClientLink>();
  private readonly noEvaluationData = new Set<string>();

  get size(): number {
    return this.links.size;
  }

  ids(): string[] {
    return [...this.links.keys()];
  }

  get(id: string): ClientLink | undefined {
    return this.links.get(id);
  }

  /** Closes and forgets an older connection with `link`'s id; whether there was one. */
  evictOlder(link: ClientLink): boolean {
    const previous = this.links.get(link.id);
    if (!previous || previous === link) return false;
    this.links.delete(link.id);
    previous.close('replaced by a newer connection with the same client id');
    return true;
  }

  add(link: ClientLink): void {
    this.links.set(link.id, link);
    this.noEvaluationData.delete(link.id);
  }

  /** Forgets `link` if it is still the client's current connection; whether it was. */
  remove(link: ClientLink): boolean {
    if (this.links.get(link.id) !== link) return false;
    this.links.delete(link.id);
    this.noEvaluationData.delete(link.id);
    return true;
  }

  /** Connected clients that can evaluate and have not declined. */
  evaluators(): string[] {
    return [...this.links.values()].filter((l) => l.canEvaluate && !this.noEvaluationData.has(l.id)).map((l) => l.id);
  }

  /** `ids` declined to evaluate; those that left meanwhile are not remembered. */
  declined(ids: readonly string[]): void {
    for (const id of ids) if (this.links.has(id)) this.noEvaluationData.add(id);
  }
}
