import { describe, expect, it } from 'vitest';
import { parseWrk } from '../../bench/serve-wrk.js';

const report = (extra = '') => `Running 4s test @ http://127.0.0.1:43737/v1/models/mnist:predict
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.10ms    5.02ms  80.20ms   70.00%
    Req/Sec     2.61k   120.00     2.90k    75.00%
  Latency Distribution
     50%  950.00us
     75%   25.00ms
     90%   30.00ms
     99%    1.25s
  10460 requests in 4.00s, 3.10MB read
${extra}Requests/sec:   2615.00
Transfer/sec:    793.00KB
`;

describe('parseWrk', () => {
  it('reads requests, duration and the 50th and 99th percentiles in their units', () => {
    expect(parseWrk(report())).toEqual({
      requests: 10460,
      seconds: 4,
      p50Ms: expect.closeTo(0.95, 12) as unknown,
      p99Ms: 1250,
      errors: 0,
      firstError: null,
    });
  });

  it('counts non-2xx answers and socket errors as errors', () => {
    const r = parseWrk(
      report('  Socket errors: connect 0, read 1, write 0, timeout 3\n  Non-2xx or 3xx responses: 5\n'),
    );
    expect(r.errors).toBe(9);
    expect(r.firstError).toBe('Socket errors: connect 0, read 1, write 0, timeout 3');
    expect(parseWrk(report('  Non-2xx or 3xx responses: 2\n'))).toMatchObject({
      errors: 2,
      firstError: '2 non-2xx answers',
    });
  });

  it('refuses a report without latency percentiles', () => {
    expect(() => parseWrk(report().replace(/^\s+99%.*$/m, ''))).toThrow(/^unexpected wrk report/);
  });
});
