import { describe, expect, it } from 'vitest';
import { SecAggMessageError, SecAggRefusal } from '../../../shared/secagg/errors.js';

describe('secure aggregation errors', () => {
  it('say which kind they are where only the text is kept (logs, stack traces)', () => {
    const refusal = new SecAggRefusal('the survivor list repeats a client');
    expect(refusal).toBeInstanceOf(Error);
    expect(refusal.name).toBe('SecAggRefusal');
    expect(String(refusal)).toBe('SecAggRefusal: the survivor list repeats a client');
    const rejected = new SecAggMessageError("'secagg/unmask' arrived in phase 'consistency'");
    expect(rejected).toBeInstanceOf(Error);
    expect(rejected).not.toBeInstanceOf(SecAggRefusal);
    expect(String(rejected)).toBe("SecAggMessageError: 'secagg/unmask' arrived in phase 'consistency'");
  });
});
