/** A minimal leveled logger writing one line per event to stderr. */

export const LogLevels = ['error', 'warn', 'info', 'debug', 'silent'] as const;
export type LogLevel = (typeof LogLevels)[number];

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, silent: -1 };

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** True when messages at `level` are written: check it before building costly lines. */
  enabled(level: LogLevel): boolean;
}

/** A logger that writes lines at `level` and more severe ones to `write` (stderr by default). */
export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const threshold = RANK[level];
  const enabled = (wanted: LogLevel): boolean => threshold >= 0 && RANK[wanted] <= threshold;
  const emit = (wanted: LogLevel, message: string): void => {
    if (enabled(wanted)) write(`${new Date().toISOString()} ${wanted.padEnd(5)} ${message}\n`);
  };
  return {
    error: (message) => emit('error', message),
    warn: (message) => emit('warn', message),
    info: (message) => emit('info', message),
    debug: (message) => emit('debug', message),
    enabled,
  };
}

/** A logger that writes nothing: the default for library use. */
export const silentLogger: Logger = createLogger('silent');

/** What to log of something thrown: its message, else its name (some errors have an empty message). */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}
