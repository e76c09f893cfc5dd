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

export const cronTicker: TickerFactory = (schedule, onTick) => {
  const task = cron.schedule(schedule, () => onTick(), {
    // Overlap is handled by the poller, which counts skipped ticks.
    noOverlap: false,
    // Without a logger node-cron writes coloured warnings to the console itself.
    logger: { info() {}, warn() {}, error() {}, debug() {} },
    suppressMissedWarning: true,
  });
  return {
    nextTickAt: () => task.getNextRun()?.getTime() ?? Date.now() + 60_000,
    stop: () => {
      void task.destroy();
    },
  };
};
