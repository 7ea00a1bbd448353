import { pino, type Level, type Logger } from 'pino';

export type { Logger };

/**
 * pino JSON lines on stderr: what journald and `daemon run` under a supervisor expect.
 * Synchronous writes, so lines are not lost when the process exits right after logging.
 * Secrets never reach the log: the redact list is a second line of defence for fields
 * that might carry a token by mistake.
 */
export function createLogger({
  level = (process.env.GLOBUS_TIMER_LOG_LEVEL as Level | undefined) ?? 'info',
  destination = 2,
}: { level?: Level | 'silent'; destination?: number | string } = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['authorization', 'headers.authorization', '*.authorization', 'token', '*.token', 'access_token', '*.access_token', 'refresh_token', '*.refresh_token'],
        censor: '[redacted]',
      },
    },
    pino.destination({ dest: destination, sync: true }),
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
