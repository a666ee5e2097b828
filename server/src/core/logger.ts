import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Logs go to stdout asynchronously: a line is handed to the OS off the event
 * loop (pino's default waits for each write), so a slow or full stdout never
 * holds up requests. What is still buffered is written out synchronously as
 * the process exits, however it exits.
 */
export function createLogger(name: string, level: string): Logger {
  const destination = pino.destination({ dest: 1, sync: false });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      /* stdout already gone */
    }
  });
  return pino(
    {
      name,
      level,
      redact: { paths: ['req.headers.authorization', 'password', '*.password', 'token', '*.token'], censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * The parts of an error worth logging for expected, repeating failures (a
 * lost connection while Postgres restarts): pg errors carry their whole client.
 */
export function brief(err: unknown): { message: string; code?: string } {
  const e = err as { message?: string; code?: string };
  return { message: String(e?.message ?? err), ...(e?.code ? { code: e.code } : {}) };
}
