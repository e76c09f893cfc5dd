/** Cron schedules, checked at load so that a schedule that validates also runs. */
import cron from 'node-cron';

/**
 * Why `schedule` cannot run, or undefined when it can. node-cron's own
 * validate() accepts expressions whose day never comes (the weekday nearest
 * the 31st of February) that schedule() then refuses: so the check is to
 * schedule it for real, ask for the next run, and drop it.
 */
export function scheduleProblem(schedule: string): string | undefined {
  const fields = schedule.trim().split(/\s+/).length;
  if ((fields !== 5 && fields !== 6) || !cron.validate(schedule)) return 'is not a valid cron expression (5 fields, or 6 with seconds)';
  try {
    const task = cron.schedule(schedule, () => {}, { logger: { info() {}, warn() {}, error() {}, debug() {} } });
    const next = task.getNextRun();
    void task.destroy();
    return next ? undefined : 'never fires (no date matches it)';
  } catch (err) {
    return `cannot be scheduled: ${(err as Error).message}`;
  }
}

