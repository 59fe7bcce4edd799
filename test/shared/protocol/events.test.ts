import { describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../../shared/protocol/envelope.js';
import { CLIENT_EVENTS, envelopeSchema, EVENTS } from '../../../shared/protocol/events.js';
import { describeZodError, TrainTaskSchema, type TrainTask } from '../../../shared/protocol/messages.js';

const task: TrainTask = {
  round: 4,
  version: 3,
  config: { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' },
  timeoutMs: 1000,
};
const TRAIN_TASK = envelopeSchema(TrainTaskSchema);
const problem = (payload: unknown) => {
  const parsed = TRAIN_TASK.safeParse(payload);
  return parsed.success ? 'accepted' : describeZodError(parsed.error);
};

describe('envelopeSchema', () => {
  it('yields the message and the envelope size on the wire, from an ArrayBuffer or a Node Buffer', () => {
    const envelope = encodeEnvelope(task);
    expect(TRAIN_TASK.parse(envelope)).toEqual({ message: task, bytes: envelope.byteLength });
    expect(TRAIN_TASK.parse(Buffer.from(envelope))).toEqual({ message: task, bytes: envelope.byteLength });
  });

  it('refuses what is not an envelope with the decoder naming the problem', () => {
    expect(problem(task)).toBe(
      'envelope: the message must be one binary envelope (ArrayBuffer or Uint8Array), got object',
    );
    expect(problem(new Uint8Array(2))).toBe('envelope: 2 bytes is shorter than the 4-byte header');
  });

  it("refuses a well-formed envelope holding an invalid message, with the field's path", () => {
    expect(problem(encodeEnvelope({ ...task, round: 0 }))).toMatch(/^round: /);
    expect(problem(encodeEnvelope({ ...task, config: { ...task.config, optimizer: 'rmsprop' } }))).toMatch(
      /^config\.optimizer: /,
    );
  });
});

describe('event names', () => {
  it('are distinct, and clients send only update, evaluation, secagg and secagg-evaluation', () => {
    const names = Object.values(EVENTS);
    expect(new Set(names).size).toBe(names.length);
    expect([...CLIENT_EVENTS]).toEqual(['update', 'evaluation', 'secagg', 'secagg-evaluation']);
  });
});
