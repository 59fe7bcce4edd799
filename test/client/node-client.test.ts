import { describe, expect, it } from 'vitest';
import { loadDataSpec } from '../../shared/data/data-spec.node.js';
import { NodeClient } from '../../client/node-client.js';
import { createProgress } from '../../client/progress.js';

describe('NodeClient options', () => {
  it('refuses a dataset that is still a Promise (a forgotten await on loadDataSpec), naming the fix', async () => {
    const pending = loadDataSpec('mnist:0/40');
    const progress = createProgress(process.stdout, '[test]');
    expect(
      () => new NodeClient({ server: 'http://127.0.0.1:9', token: 'x', data: pending as never, progress }),
    ).toThrow(/data is a Promise; await loadDataSpec/);
    const data = await pending;
    expect(
      () =>
        new NodeClient({
          server: 'http://127.0.0.1:9',
          token: 'x',
          data,
          evalData: loadDataSpec('mnist:1/40') as never,
          progress,
        }),
    ).toThrow(/evalData is a Promise/);
  });
});
