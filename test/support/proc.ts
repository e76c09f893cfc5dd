/**
 * Memory of a process the test started, measured rather than guessed: VmRSS
 * (resident now) and VmHWM (the peak so far) from /proc/<pid>/status, the
 * kernel's own accounting (Linux only).
 */
import { readFileSync } from 'node:fs';

export interface Memory {
  readonly rssMb: number;
  readonly hwmMb: number;
}

/** Undefined when the process is gone or /proc is not there. */
export function memoryOf(pid: number): Memory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  // A process that has exited but not been reaped (a zombie) has no memory lines.
  if (Number.isNaN(rss) || Number.isNaN(hwm)) return undefined;
  return { rssMb: rss / 1024, hwmMb: hwm / 1024 };
}

/**
 * Samples a child's memory every `intervalMs` while a test runs. Past
 * `killAboveMb` it ends that child (by its PID, with SIGKILL) so that a
 * regression shows as a failed test rather than as a machine out of memory.
 */
export class MemoryWatch {
  maxRssMb = 0;
  hwmMb = 0;
  samples = 0;
  /** Set when the child went past killAboveMb and was ended. */
  killedAtMb: number | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    private readonly killAboveMb = 1024,
    intervalMs = 50,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  sample(): Memory | undefined {
    const m = memoryOf(this.pid);
    if (!m) return undefined;
    this.samples++;
    this.maxRssMb = Math.max(this.maxRssMb, m.rssMb);
    this.hwmMb = Math.max(this.hwmMb, m.hwmMb);
    if (m.rssMb > this.killAboveMb && this.killedAtMb === undefined) {
      this.killedAtMb = m.rssMb;
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    return m;
  }

  /** Stops sampling; returns the peak (the larger of the sampled RSS and the kernel's high-water mark), 0 if never sampled. */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return Math.max(this.maxRssMb, this.hwmMb);
  }
}

/** The p-th percentile (0-100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
