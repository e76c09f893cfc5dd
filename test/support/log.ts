/** A logger that keeps its lines, for tests that read what was logged. */
import { createLogger, type Logger, type LogLevel } from '../../src/log/logger.js';

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: string[];
  /** Lines containing every one of `needles`. */
  matching(...needles: string[]): string[];
}

export function captureLog(level: LogLevel = 'debug'): CapturedLog {
  const lines: string[] = [];
  const logger = createLogger({ level, write: (l) => lines.push(l) });
  return { logger, lines, matching: (...needles) => lines.filter((l) => needles.every((n) => l.includes(n))) };
}
