import { describe, expect, it } from 'vitest';
import type { ClientLink, LinkMessage } from '../../server/client-link.js';
import { ClientRegistry } from '../../server/client-registry.js';

class FakeLink implements ClientLink {
  closedWith: string | undefined;
  constructor(
    readonly id: string,
    readonly canEvaluate = false,
  ) {}
  send(_message: LinkMessage): void {}
  close(reason: string): void {
    this.closedWith = reason;
  }
}

describe('ClientRegistry', () => {
  it('keeps one link per client id: a newer connection closes and replaces the older', () => {
    const clients = new ClientRegistry();
    const first = new FakeLink('a');
    expect(clients.evictOlder(first)).toBe(false);
    clients.add(first);
    expect(clients.evictOlder(first)).toBe(false);
    const second = new FakeLink('a');
    expect(clients.evictOlder(second)).toBe(true);
    expect(first.closedWith).toBe('replaced by a newer connection with the same client id');
    clients.add(second);
    expect(clients.get('a')).toBe(second);
    expect(clients.size).toBe(1);
  });

  it('does not let a replaced connection that goes away remove its successor', () => {
    const clients = new ClientRegistry();
    const first = new FakeLink('a');
    clients.add(first);
    const second = new FakeLink('a');
    clients.evictOlder(second);
    clients.add(second);
    expect(clients.remove(first)).toBe(false);
    expect(clients.ids()).toEqual(['a']);
    expect(clients.remove(second)).toBe(true);
    expect(clients.ids()).toEqual([]);
  });

  it('does not ask a client that declined to evaluate again until it reconnects', () => {
    const clients = new ClientRegistry();
    const a = new FakeLink('a', true);
    clients.add(a);
    clients.add(new FakeLink('b', true));
    clients.add(new FakeLink('c', false));
    expect(clients.evaluators()).toEqual(['a', 'b']);
    clients.declined(['a', 'gone']);
    expect(clients.evaluators()).toEqual(['b']);
    clients.remove(a);
    const again = new FakeLink('a', true);
    clients.add(again);
    expect(clients.evaluators()).toEqual(['b', 'a']);
    // A client that left before declining is not remembered when it comes back.
    clients.add(new FakeLink('gone', true));
    expect(clients.evaluators()).toEqual(['b', 'a', 'gone']);
  });
});
