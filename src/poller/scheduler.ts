/**
 * Ticks on a cron expression. A thin adaptor over node-cron so the poller can
 * be driven by a hand-made ticker in tests.
 */
import cron from 'node-cron';

export interface Ticker {
  /** Unix ms of the next tick, used as the running cycle's deadline. */
  nextTickAt(): number;
  stop(): void;
}

export type TickerFactory = (schedule: string, onTick: () => void) => Ticker;

/** Without a logger node-cron writes coloured warnings to the console itself. */
export const QUIET_CRON_LOGGER = { info() {}, warn() {}, error() {}, debug() {} };

function scheduleTask(schedule: string, onTick: () => void) {
  return cron.schedule(schedule, () => onTick(), {
    // Overlap is handled by the poller, which counts skipped ticks.
    noOverlap: false,
    logger: QUIET_CRON_LOGGER,
    suppressMissedWarning: true,
  });
}

export const cronTicker: TickerFactory = (schedule, onTick) => {
  const task = scheduleTask(schedule, onTick);
  return {
    nextTickAt: () => task.getNextRun()?.getTime() ?? Date.now() + 60_000,
    stop: () => {
      void task.destroy();
    },
  };
};
