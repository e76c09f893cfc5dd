/** Pure evaluation of a task's timeline: no clock, no state. */
import type { ScanStatus, TimelineStep } from './model.js';

/**
 * The status `elapsedMs` after the simulator started. Each step lasts its
 * `forMs`; the last step holds forever. Before time zero (a clock that went
 * back) the first step applies.
 */
export function statusAt(task: { readonly timeline: readonly TimelineStep[] }, elapsedMs: number): ScanStatus {
  const steps = task.timeline;
  if (steps.length === 0) throw new Error('a timeline needs at least one step');
  let end = 0;
  for (let i = 0; i < steps.length - 1; i++) {
    end += steps[i]!.forMs ?? 0;
    if (elapsedMs < end) return steps[i]!.status;
  }
  return steps[steps.length - 1]!.status;
}

/** When the last step begins, i.e. from when the status never changes again. */
export function settlesAtMs(task: { readonly timeline: readonly TimelineStep[] }): number {
  let end = 0;
  for (let i = 0; i < task.timeline.length - 1; i++) end += task.timeline[i]!.forMs ?? 0;
  return end;
}
