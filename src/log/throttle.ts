/**
 * Bounds how often one kind of event is logged, so that an attacker
 * repeating it (a password-guessing run, a connection flood) cannot flood
 * the log: at most `burst` lines per `intervalMs` per kind; past that the
 * events are counted and the next line that gets through says how many
 * were left out.
 */
import type { LogFields, Logger, LogLevel } from './logger.js';

export interface ThrottleOptions {
  readonly burst?: number;
  readonly intervalMs?: number;
  readonly now?: () => number;
}

interface Window {
  start: number;
  logged: number;
  suppressed: number;
}

export class ThrottledLog {
  private readonly windows = new Map<string, Window>();
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly logger: Logger,
    opts: ThrottleOptions = {},
  ) {
    this.burst = opts.burst ?? 10;
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Logs `msg` unless `kind` (default: the message) already used its burst in this interval. */
  log(level: LogLevel, msg: string, fields: LogFields = {}, kind = msg): void {
    const t = this.now();
    let w = this.windows.get(kind);
    if (!w || t - w.start >= this.intervalMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: t, logged: 0, suppressed: 0 };
      this.windows.set(kind, w);
      if (suppressed > 0) fields = { ...fields, suppressed_since_last: suppressed };
      // Kinds are few (one per event type), so the map never needs pruning.
    }
    if (w.logged >= this.burst) {
      w.suppressed++;
      return;
    }
    w.logged++;
    if (w.logged === this.burst) fields = { ...fields, note: `further events of this kind are counted, not logged, until ${this.intervalMs / 1000}s have passed` };
    this.logger[level](msg, fields);
  }

  warn(msg: string, fields?: LogFields, kind?: string): void {
    this.log('warn', msg, fields, kind);
  }
}
