import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { serverConfigFromArgs } from '../../cli/server-args.js';
import { createLogger, lineLogger, resolveLogFormat } from '../../server/logger.js';

/** A destination that keeps what the logger wrote. */
function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('server logger', () => {
  it('writes one parseable JSON object per line, with level, msg and the structured fields', () => {
    const out = sink();
    const logger = createLogger({ format: 'json', destination: out.stream });
    logger.info({ round: 3, version: 2 }, 'round 3: committed version 2');
    logger.warn('round log damaged');
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const [info, warn] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(info).toMatchObject({ level: 30, msg: 'round 3: committed version 2', round: 3, version: 2 });
    expect(typeof info.time).toBe('number');
    expect(warn).toMatchObject({ level: 40, msg: 'round log damaged' });
  });

  it('drops lines below --log-level', () => {
    const out = sink();
    const logger = createLogger({ format: 'json', level: 'warn', destination: out.stream });
    logger.info('not shown');
    logger.debug('not shown either');
    logger.error('shown');
    expect(
      out
        .text()
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
    ).toEqual(['shown']);
    const silent = sink();
    createLogger({ format: 'json', level: 'silent', destination: silent.stream }).fatal('nothing at all');
    expect(silent.text()).toBe('');
  });

  it('is pretty on a terminal and JSON on a pipe unless told otherwise', () => {
    expect(resolveLogFormat(undefined, true)).toBe('pretty');
    expect(resolveLogFormat(undefined, false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
    const out = sink();
    createLogger({ isTTY: true, destination: out.stream }).info({ round: 7 }, 'listening');
    // Coloured for the terminal.
    expect(out.text()).toContain('\x1b[');
    const text = out.text().replace(/\x1b\[[0-9;]*m/g, '');
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toContain('INFO');
    expect(text).toContain('listening');
    expect(text).toContain('round: 7');
  });

  it('hands message text to a line callback, levels still applying', () => {
    const lines: string[] = [];
    const logger = lineLogger((l) => lines.push(l), 'warn');
    logger.info('below the level');
    logger.warn({ clientId: 'a' }, 'client a refused');
    expect(lines).toEqual(['client a refused']);
  });

  it('takes --log-level and --log-format flags and refuses unknown values naming the field', () => {
    expect(serverConfigFromArgs([], {}).log).toEqual({ level: 'info' });
    expect(serverConfigFromArgs(['--log-level', 'debug', '--log-format', 'json'], {}).log).toEqual({
      level: 'debug',
      format: 'json',
    });
    expect(() => serverConfigFromArgs(['--log-level', 'loud'], {})).toThrow(/log\.level/);
    expect(() => serverConfigFromArgs(['--log-format', 'xml'], {})).toThrow(/log\.format/);
  });
});
