import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { z } from 'zod';

/**
 * The coordinator's operational log: pino, one logger created here and handed down (children add
 * a component). JSON lines for log shippers, or pino-pretty's coloured lines for a person at a
 * terminal. CLI output meant for the user (usage, `fedserve export` results) does not go here.
 */
export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LogConfigSchema = z.strictObject({
  /** Lines below this level are dropped. */
  level: z.enum(LOG_LEVELS).default('info'),
  /** json or pretty; absent: pretty when stdout is a terminal, json otherwise. */
  format: z.enum(['json', 'pretty']).optional(),
});
export type LogConfig = z.output<typeof LogConfigSchema>;
export type LogFormat = 'json' | 'pretty';

/** The format asked for, else pretty for a person at a terminal and JSON for whatever reads a pipe. */
export function resolveLogFormat(format: LogFormat | undefined, isTTY: boolean): LogFormat {
  return format ?? (isTTY ? 'pretty' : 'json');
}

export interface LoggerOptions extends Partial<LogConfig> {
  /** Where lines go; default stdout. */
  destination?: NodeJS.WritableStream;
  /** Whether the destination is a terminal; default stdout's. */
  isTTY?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  // @types/node says boolean, but isTTY is undefined when stdout is a pipe.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare
  const isTTY = options.isTTY ?? process.stdout.isTTY === true;
  const level = options.level ?? 'info';
  const format = resolveLogFormat(options.format, isTTY);
  const destination = options.destination ?? process.stdout;
  switch (format) {
    case 'json':
      return pino({ level }, destination as DestinationStream);
    case 'pretty':
      // pino-pretty in this thread, synchronously: no worker thread per logger, and no line lost at exit.
      return pino({ level }, pretty({ destination, sync: true, colorize: isTTY }));
    default: {
      const never: never = format;
      throw new Error(`unknown log format ${String(never)}`);
    }
  }
}

/**
 * A logger that hands each message's text to `write` (simulations and benches keep their own log
 * files and arrays; tests read what was logged). Levels still apply.
 */
export function lineLogger(write: (line: string) => void, level: LogConfig['level'] = 'info'): Logger {
  return pino(
    { level, base: undefined, timestamp: false },
    { write: (json: string) => write((JSON.parse(json) as { msg: string }).msg) },
  );
}

/** Logs nothing: tests and benches that do not look at the log. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Plain log lines (the round runtime's) as info messages of `logger`. */
export function infoLines(logger: Logger): (line: string) => void {
  return (line) => {
    logger.info(line);
  };
}
