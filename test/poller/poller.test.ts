import { describe, expect, it } from 'vitest';
import type { PollerAccount, PollerSettings } from '../../src/poller/poller.js';
import { Poller } from '../../src/poller/poller.js';
import type { AccountObserver, CycleStats, PollObserver } from '../../src/poller/observer.js';
import { allTasks, type Snapshot } from '../../src/model/snapshot.js';
import type { TickerFactory } from '../../src/poller/scheduler.js';
import { silentLogger } from '../../src/log/logger.js';
import { FakeSource, NO_PERMISSION, ok, SERVER_ERROR, THROTTLED, fail } from '../fixtures/fakeSource.js';

type Over = Partial<Omit<PollerAccount, 'name' | 'tasks'>> & { schedule?: string };

/** Single-account settings for `ids`; `over` sets the schedule or any account setting. */
function settings(ids: string[], over: Over = {}): PollerSettings {
  const { schedule, ...account } = over;
  return {
    schedule: schedule ?? '*/30 * * * * *',
    multiAccount: false,
    accounts: [
      {
        name: '',
        concurrency: 4,
        retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000, maxRetriesPerCycle: 100 },
        rateLimit: { qps: 1000, burst: 1000 },
        terminalRecheckIntervalMs: 600_000,
        tasks: ids.map((id) => ({ id, name: `task-${id}` })),
        ...account,
      },
    ],
  };
}

/** The tasks of every account, in order. */
const tasksOf = (s: Snapshot) => allTasks(s);

/** A ticker the test fires by hand; `nextTickAt` is the cycle deadline. */
function manualTicker() {
  const ticks: (() => void)[] = [];
  let next = Infinity;
  const factory: TickerFactory = (_s, onTick) => {
    ticks.push(onTick);
    return { nextTickAt: () => next, stop: () => ticks.splice(ticks.indexOf(onTick), 1) };
  };
  return { factory, tick: () => ticks.forEach((t) => t()), setNext: (n: number) => (next = n), count: () => ticks.length };
}

/** Records what the poller reports; `cycles` holds every account's cycles, in order. */
class RecordingObserver implements PollObserver {
  cycles: CycleStats[] = [];
  accountCycles: [string, CycleStats][] = [];
  calls: string[] = [];
  callsByAccount: [string, string][] = [];
  skipped = 0;
  targetErrors: string[] = [];
  accountLists: string[][] = [];
  account(name: string): AccountObserver {
    return {
      apiCall: (_a, code) => {
        this.calls.push(code);
        this.callsByAccount.push([name, code]);
      },
      targetInfoError: (r) => this.targetErrors.push(r),
      rateLimitChanged() {},
      cycleFinished: (s) => {
        this.cycles.push(s);
        this.accountCycles.push([name, s]);
      },
      tickSkipped: () => this.skipped++,
    };
  }
  accountsChanged(accounts: readonly { name: string }[]) {
    this.accountLists.push(accounts.map((a) => a.name));
  }
}

function setup(ids: string[], source = new FakeSource(), over: Over = {}) {
  const ticker = manualTicker();
  const observer = new RecordingObserver();
  let now = 1_000_000;
  const sleeps: number[] = [];
  const poller = new Poller({
    source,
    logger: silentLogger,
    observer,
    ticker: ticker.factory,
    now: () => now,
    random: () => 1,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  });
  poller.configure(settings(ids, over));
  const idle = async () => {
    for (let i = 0; i < 100 && poller.busy; i++) await new Promise((r) => setTimeout(r, 1));
  };
  return { poller, source, ticker, observer, sleeps, idle, advance: (ms: number) => (now += ms), now: () => now };
}

describe('Poller', () => {
  it('exports configured tasks before the first poll, then polls at once on start', async () => {
    const t = setup(['1', '2']);
    expect(tasksOf(t.poller.current()).map((x) => x.id)).toEqual(['1', '2']);
    expect(t.poller.ready).toBe(false);
    t.poller.start();
    await t.idle();
    expect(t.source.calls.sort()).toEqual(['1', '2']);
    expect(t.poller.ready).toBe(true);
    expect(tasksOf(t.poller.current()).every((x) => x.status === 'processing')).toBe(true);
  });

  it('never runs two cycles at once: a tick during a cycle is skipped and counted', async () => {
    const t = setup(['1']);
    let release!: () => void;
    t.source.gate = new Promise((r) => (release = r));
    t.poller.start();
    await new Promise((r) => setTimeout(r, 5));
    t.ticker.tick();
    t.ticker.tick();
    expect(t.observer.skipped).toBe(2);
    release();
    await t.idle();
    t.source.gate = undefined;
    t.ticker.tick();
    await t.idle();
    expect(t.source.calls).toEqual(['1', '1']);
    expect(t.observer.cycles).toHaveLength(2);
  });

  it('publishes answers as they arrive, at most once per interval, and at the end of the cycle', async () => {
    const src = new FakeSource();
    // One answer every 30 ms of real time.
    src.describeScanTaskProgress = async (id) => {
      src.calls.push(id);
      await new Promise((r) => setTimeout(r, 30));
      return ok('Processing');
    };
    const poll = async (publishIntervalMs: number) => {
      const poller = new Poller({ source: src, logger: silentLogger, ticker: manualTicker().factory, publishIntervalMs });
      poller.configure(settings(['1', '2', '3', '4'], { concurrency: 1 }));
      const seen: number[] = [];
      poller.onSnapshot((s) => seen.push(tasksOf(s).filter((x) => x.status).length));
      await poller.runOnce();
      await poller.stop();
      return seen;
    };
    // Published with every answer: a consistent state each time (whole tasks), growing.
    expect(await poll(0)).toEqual([1, 2, 3, 4, 4]);
    // An interval longer than the cycle: nothing until the cycle ends.
    expect(await poll(60_000)).toEqual([4]);
  });

  it('retries 5xx and throttling with backoff, never 403', async () => {
    const src = new FakeSource()
      .script('500', SERVER_ERROR, SERVER_ERROR, ok('Success'))
      .script('429', THROTTLED, ok('Success'))
      .script('403', NO_PERMISSION);
    const t = setup(['500', '429', '403'], src, { concurrency: 1 });
    await t.poller.runOnce();
    expect(src.callsFor('500')).toBe(3);
    expect(src.callsFor('429')).toBe(2);
    expect(src.callsFor('403')).toBe(1);
    expect(t.sleeps).toEqual([100, 200, 100]);
    const byId = Object.fromEntries(tasksOf(t.poller.current()).map((x) => [x.id, x]));
    expect(byId['500']).toMatchObject({ status: 'success', lastPollOk: true });
    expect(byId['403']).toMatchObject({ lastPollOk: false, lastError: { code: 'NoPermission' } });
    expect(t.observer.calls.filter((c) => c === 'ServerError')).toHaveLength(2);
    expect(t.observer.cycles[0]).toMatchObject({ result: 'partial', tasksPolled: 3, tasksFailed: 1, apiCalls: 6 });
  });

  it('stops retrying at the next tick so a cycle never runs into the next', async () => {
    const src = new FakeSource(SERVER_ERROR);
    const t = setup(['1'], src, { retry: { maxAttempts: 10, initialBackoffMs: 1000, maxBackoffMs: 1000, maxRetriesPerCycle: 100 } });
    t.ticker.setNext(t.now() + 2500);
    t.poller.start();
    await t.idle();
    expect(src.callsFor('1')).toBe(3); // t=0, +1000, +2000; the next retry would pass the tick
    expect(t.observer.cycles[0]).toMatchObject({ result: 'failure', retriesDropped: 1 });
  });

  it('counts the wait for a rate-limit token against the next tick: no retry starts after it', async () => {
    const src = new FakeSource(SERVER_ERROR);
    // One token a second: the retry would wait ~1 s for its token, past the tick 500 ms away.
    const t = setup(['1'], src, { rateLimit: { qps: 1, burst: 1 }, retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 100, maxRetriesPerCycle: 100 } });
    t.ticker.setNext(t.now() + 500);
    t.poller.start();
    await t.idle();
    expect(src.callsFor('1')).toBe(1);
    expect(t.observer.cycles[0]).toMatchObject({ result: 'failure', retriesDropped: 1 });
  });

  it('bounds retries per cycle over all tasks', async () => {
    const src = new FakeSource(SERVER_ERROR);
    const ids = Array.from({ length: 20 }, (_, i) => String(i + 1));
    const t = setup(ids, src, { retry: { maxAttempts: 5, initialBackoffMs: 1, maxBackoffMs: 1, maxRetriesPerCycle: 7 } });
    await t.poller.runOnce();
    expect(src.calls).toHaveLength(20 + 7);
  });

  it('keeps the last known state through failures and exposes no status before a first success', async () => {
    const src = new FakeSource().script('1', ok('Processing'), fail('timeout', 'timeout', true)).script('2', NO_PERMISSION);
    const t = setup(['1', '2'], src, { retry: { maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1, maxRetriesPerCycle: 0 } });
    await t.poller.runOnce();
    const first = tasksOf(t.poller.current())[0]!;
    t.advance(30_000);
    await t.poller.runOnce();
    const [one, two] = tasksOf(t.poller.current());
    expect(one).toMatchObject({ status: 'processing', lastPollOk: false, lastSuccessAt: first.lastSuccessAt, statusChangedAt: first.statusChangedAt, lastError: { class: 'timeout' } });
    expect(two!.status).toBeUndefined();
  });

  it('re-checks terminal tasks only after the interval', async () => {
    const src = new FakeSource().script('done', ok('Success')).script('busy', ok('Processing'));
    const t = setup(['done', 'busy'], src, { terminalRecheckIntervalMs: 60_000 });
    await t.poller.runOnce();
    t.advance(30_000);
    await t.poller.runOnce();
    expect(src.callsFor('done')).toBe(1);
    expect(src.callsFor('busy')).toBe(2);
    expect(t.observer.cycles[1]).toMatchObject({ tasksPolled: 1, apiCalls: 1 });
    expect(tasksOf(t.poller.current())[0]!.status).toBe('success');
    t.advance(30_000);
    await t.poller.runOnce();
    expect(src.callsFor('done')).toBe(2);
  });

  it('counts TargetInfo problems', async () => {
    const src = new FakeSource().script('1', ok('Success', [], 'malformed: TargetInfo is not valid JSON'));
    const t = setup(['1'], src);
    await t.poller.runOnce();
    expect(t.observer.targetErrors).toEqual(['malformed']);
  });

  it('a reload keeps unchanged tasks, drops removed ones and polls added ones at once', async () => {
    const t = setup(['1', '2']);
    t.poller.start();
    await t.idle();
    const kept = tasksOf(t.poller.current())[0]!;
    t.advance(1000);
    const r = t.poller.configure(settings(['1', '3']));
    expect(r).toMatchObject({ added: ['3'], removed: ['2'], accountsAdded: [], accountsRemoved: [] });
    expect(tasksOf(t.poller.current()).map((x) => x.id)).toEqual(['1', '3']);
    expect(tasksOf(t.poller.current())[0]).toBe(kept);
    await t.idle();
    expect(t.source.calls.filter((c) => c === '3')).toHaveLength(1);
    expect(t.source.callsFor('1')).toBe(1); // not re-polled by the reload
    expect(tasksOf(t.poller.current())[1]!.status).toBe('processing');
  });

  it('a reload during a cycle polls the added tasks right after it and ignores results of removed ones', async () => {
    const t = setup(['1', '2']);
    let release!: () => void;
    t.source.gate = new Promise((r) => (release = r));
    t.poller.start();
    await new Promise((r) => setTimeout(r, 5));
    t.poller.configure(settings(['1', '9']));
    release();
    t.source.gate = undefined;
    await t.idle();
    await t.idle();
    expect(tasksOf(t.poller.current()).map((x) => [x.id, x.status])).toEqual([
      ['1', 'processing'],
      ['9', 'processing'],
    ]);
  });

  it('a changed schedule replaces the ticker', async () => {
    const t = setup(['1']);
    t.poller.start();
    await t.idle();
    t.poller.configure(settings(['1'], { schedule: '*/5 * * * * *' }));
    expect(t.ticker.count()).toBe(1);
  });

  it('a schedule the ticker refuses leaves the running ticker and state untouched', async () => {
    const t = setup(['1']);
    t.poller.start();
    await t.idle();
    const before = t.ticker.count();
    const refusing: TickerFactory = () => {
      throw new Error('Could not find next matching date');
    };
    (t.poller as unknown as { tickerFactory: TickerFactory }).tickerFactory = refusing;
    expect(() => t.poller.configure(settings(['1', '2'], { schedule: '0 0 31W 2 *' }))).toThrow(/next matching date/);
    expect(t.ticker.count()).toBe(before);
    expect(tasksOf(t.poller.current()).map((x) => x.id)).toEqual(['1']);
  });

  it('stop() abandons backoff waits', async () => {
    const src = new FakeSource(SERVER_ERROR);
    const ticker = manualTicker();
    const poller = new Poller({ source: src, logger: silentLogger, ticker: ticker.factory });
    poller.configure(settings(['1'], { retry: { maxAttempts: 5, initialBackoffMs: 60_000, maxBackoffMs: 60_000, maxRetriesPerCycle: 10 } }));
    poller.start();
    await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await poller.stop(1000);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(ticker.count()).toBe(0);
  });
});

describe('Poller over several accounts', () => {
  const account = (name: string, ids: string[], over: Partial<PollerAccount> = {}): PollerAccount => ({
    name,
    concurrency: 2,
    retry: { maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1, maxRetriesPerCycle: 0 },
    rateLimit: { qps: 1000, burst: 1000 },
    terminalRecheckIntervalMs: 0,
    tasks: ids.map((id) => ({ id, name: '' })),
    ...over,
  });
  const multi = (...accounts: PollerAccount[]): PollerSettings => ({ schedule: '*/1 * * * * *', multiAccount: true, accounts });

  function setupAccounts(sources: Record<string, FakeSource>) {
    const ticker = manualTicker();
    const observer = new RecordingObserver();
    const poller = new Poller({ logger: silentLogger, observer, ticker: ticker.factory, sleep: async () => {} });
    const sourceOf = (a: PollerAccount) => sources[a.name]!;
    const idle = async () => {
      for (let i = 0; i < 200 && poller.busy; i++) await new Promise((r) => setTimeout(r, 1));
    };
    return { poller, ticker, observer, sourceOf, idle };
  }

  it('the same task ID in two accounts is two tasks with their own state', async () => {
    const a = new FakeSource(ok('Success'));
    const b = new FakeSource(ok('Failed'));
    const t = setupAccounts({ a, b });
    t.poller.configure(multi(account('a', ['5']), account('b', ['5'])), t.sourceOf);
    await t.poller.runOnce();
    const snap = t.poller.current();
    expect(snap.multiAccount).toBe(true);
    expect(snap.accounts.map((x) => [x.name, x.tasks[0]!.id, x.tasks[0]!.status])).toEqual([
      ['a', '5', 'success'],
      ['b', '5', 'failed'],
    ]);
    expect(t.observer.callsByAccount.sort()).toEqual([
      ['a', 'OK'],
      ['b', 'OK'],
    ]);
  });

  it('an account whose cycle hangs skips its own ticks only: the others keep their schedule', async () => {
    const fast = new FakeSource(ok('Processing'));
    const slow = new FakeSource(ok('Processing'));
    let release!: () => void;
    slow.gate = new Promise((r) => (release = r));
    const t = setupAccounts({ fast, slow });
    t.poller.configure(multi(account('fast', ['1']), account('slow', ['2'])), t.sourceOf);
    t.poller.start();
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 5));
      t.ticker.tick();
    }
    await new Promise((r) => setTimeout(r, 5));
    expect(fast.callsFor('1')).toBe(4); // the first cycle and three ticks
    expect(slow.callsFor('2')).toBe(1); // still in its first cycle
    expect(t.observer.skipped).toBe(3); // the slow account's ticks, not the fast one's
    expect(t.poller.ready).toBe(false); // every account must have answered once
    release();
    await t.idle();
    expect(t.poller.ready).toBe(true);
  });

  it('a reload adds and removes accounts; a removed account’s late answers never come back', async () => {
    const a = new FakeSource(ok('Success'));
    const b = new FakeSource(ok('Success'));
    const c = new FakeSource(ok('init'));
    const t = setupAccounts({ a, b, c });
    t.poller.configure(multi(account('a', ['1']), account('b', ['1'])), t.sourceOf);
    t.poller.start();
    await t.idle();
    let release!: () => void;
    b.gate = new Promise((r) => (release = r));
    t.ticker.tick(); // b's cycle hangs
    await new Promise((r) => setTimeout(r, 5));
    const r = t.poller.configure(multi(account('a', ['1']), account('c', ['9'])), t.sourceOf);
    expect(r).toMatchObject({ accountsAdded: ['c'], accountsRemoved: ['b'], added: ['c/9'], removed: ['b/1'] });
    expect(t.observer.accountLists.at(-1)).toEqual(['a', 'c']);
    release();
    await t.idle();
    expect(t.poller.current().accounts.map((x) => x.name)).toEqual(['a', 'c']);
    expect(t.poller.current().accounts[1]!.tasks[0]).toMatchObject({ id: '9', status: 'init' });
  });
});
