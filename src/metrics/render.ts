/**
 * Renders a snapshot's task families into one exposition buffer. Runs once
 * per snapshot, not per scrape, and yields to the event loop between slices
 * so health checks and scrapes stay fast while a large snapshot renders.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Snapshot, TaskState } from '../poller/state.js';
import { escapeHelp, escapeLabelValue, formatValue } from './exposition.js';
import { TASK_FAMILIES, type TaskFamily } from './taskFamilies.js';

/** Tasks rendered between two yields: ~1-3 ms of work. */
const SLICE = 500;

export interface RenderOptions {
  readonly families?: readonly TaskFamily[];
  /** Yield to the event loop between slices (default true). */
  readonly yieldEvery?: number;
}

function header(f: TaskFamily): string {
  return `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
}

function renderSlice(f: TaskFamily, tasks: readonly TaskState[], tids: readonly string[], from: number, to: number): string {
  let out = '';
  const prefix = f.name + '{';
  const emit = (labels: string, value: number) => {
    out += prefix + labels + '} ' + formatValue(value) + '\n';
  };
  for (let i = from; i < to; i++) f.samples(tasks[i]!, tids[i]!, emit);
  return out;
}

/** Synchronous form, for tests and small snapshots. */
export function renderTaskFamiliesSync(snapshot: Snapshot, opts: RenderOptions = {}): Buffer {
  const families = opts.families ?? TASK_FAMILIES;
  const tasks = snapshot.tasks;
  const tids = tasks.map((t) => `task_id="${escapeLabelValue(t.id)}"`);
  const parts: Buffer[] = [];
  for (const f of families) {
    const body = renderSlice(f, tasks, tids, 0, tasks.length);
    // A family without samples is left out whole: HELP/TYPE alone would only add noise.
    if (body) parts.push(Buffer.from(header(f) + body));
  }
  return Buffer.concat(parts);
}

export async function renderTaskFamilies(snapshot: Snapshot, opts: RenderOptions = {}): Promise<Buffer> {
  const families = opts.families ?? TASK_FAMILIES;
  const slice = opts.yieldEvery ?? SLICE;
  const tasks = snapshot.tasks;
  const tids = tasks.map((t) => `task_id="${escapeLabelValue(t.id)}"`);
  const parts: Buffer[] = [];
  for (const f of families) {
    let started = false;
    for (let i = 0; i < tasks.length; i += slice) {
      const body = renderSlice(f, tasks, tids, i, Math.min(tasks.length, i + slice));
      if (body) {
        if (!started) parts.push(Buffer.from(header(f)));
        started = true;
        parts.push(Buffer.from(body));
      }
      if (tasks.length > slice) await yieldToLoop();
    }
  }
  return Buffer.concat(parts);
}
