import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientNotices, type ClientChanges } from '../../../server/cluster/client-notices.js';

const client = (id: string, connection = `s-${id}`) => ({ id, connection });

function notices() {
  const reports: ClientChanges[] = [];
  return { reports, n: new ClientNotices(50, (c) => reports.push(c)) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ClientNotices', () => {
  it('reports a burst of joins as one batch, not one notice per client', () => {
    vi.useFakeTimers();
    const { reports, n } = notices();
    for (let i = 0; i < 1_000; i++) n.join(client(`c${i}`));
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(50);
    expect(reports).toHaveLength(1);
    expect(reports[0].joined).toHaveLength(1_000);
    expect(reports[0].left).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(reports).toHaveLength(1);
  });

  it('reports at most one batch per delay while joins keep coming', () => {
    vi.useFakeTimers();
    const { reports, n } = notices();
    for (let t = 0; t < 1_000; t += 10) {
      n.join(client(`c${t}`));
      vi.advanceTimersByTime(10);
    }
    expect(reports).toHaveLength(20);
    expect(reports.flatMap((r) => r.joined)).toHaveLength(100);
  });

  it('nets out a client that joined and left within a batch, and keeps a reconnection (leave, then join) as both', () => {
    const { reports, n } = notices();
    n.join(client('a'));
    n.leave('a');
    n.leave('b');
    n.join(client('b', 's-b2'));
    n.flush();
    expect(reports).toEqual([{ joined: [client('b', 's-b2')], left: ['a', 'b'] }]);
    n.flush();
    expect(reports).toHaveLength(1);
  });

  it('drops what is pending when the node closes', () => {
    vi.useFakeTimers();
    const { reports, n } = notices();
    n.join(client('a'));
    n.end();
    vi.advanceTimersByTime(100);
    expect(reports).toEqual([]);
  });
});
