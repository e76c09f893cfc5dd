/**
 * The incremental exposition must serve exactly what a full render of the
 * same state gives, whatever happened before: random sequences of changes
 * (modify, same content in a new object, add, remove, move, shuffle, clear,
 * families emptied and filled again, label values needing escapes), checked
 * after every update, plain, gzip and OpenMetrics. Seeded: a failure
 * repeats; the seed and step are in the message.
 */
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ExpositionCache, storedGzipMember, type ExpositionLayout } from '../../src/metrics/cache.js';
import type { Compressor } from '../../src/metrics/compressor.js';
import { escapeLabelValue, textToOpenMetrics } from '../../src/metrics/exposition.js';
import { IncrementalExposition, renderFull, type Family, type IncrementalOptions, type Section } from '../../src/metrics/incremental.js';
import { snapshotLayout } from '../../src/metrics/layout.js';
import { renderTaskFamiliesSync } from '../../src/metrics/render.js';
import type { LatestScanState, MachineState, Snapshot, TaskState } from '../../src/model/snapshot.js';
import { MACHINE_SCAN_STATUSES, TASK_STATUSES } from '../../src/model/vocabulary.js';
import { snapshotOf } from '../fixtures/snapshots.js';
import { mulberry32 } from '../../src/simulator/prng.js';

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const int = (rng: Rng, n: number): number => Math.floor(rng() * n);

// ---- A generic state: two sections, families dense, variable, sparse and often empty.

interface Item {
  readonly id: string;
  readonly name: string;
  readonly v?: number;
  readonly tags: readonly string[];
  readonly flag: boolean;
}
interface Other {
  readonly key: string;
  readonly n: number;
}

const NAMES = ['plain', 'with "quotes"', 'back\\slash', 'line\nfeed', 'ünïcödé ✓', '', '}{,=', 'x'.repeat(90)];
const VALUES = [0, 1, -1, 0.5, 1e21, 1700000000.5, NaN, Infinity, -Infinity];

const ITEM_FAMILIES: Family<Item>[] = [
  { name: 'item_info', help: 'Info with "quotes" and a back\\slash\nand a line feed.', type: 'gauge', samples: (o, p, emit) => emit(`${p},name="${escapeLabelValue(o.name)}"`, 1) },
  { name: 'item_value', help: 'Value.', type: 'gauge', samples: (o, p, emit) => (o.v === undefined ? undefined : emit(p, o.v)) },
  { name: 'item_tag', help: 'Tags: 0 to many lines an item.', type: 'gauge', samples: (o, p, emit) => o.tags.forEach((t, i) => emit(`${p},tag="${escapeLabelValue(t)}"`, i)) },
  { name: 'item_flag', help: 'Sparse.', type: 'gauge', samples: (o, p, emit) => (o.flag ? emit(p, 1) : undefined) },
];
const OTHER_FAMILIES: Family<Other>[] = [{ name: 'other_lines', help: 'n lines.', type: 'gauge', samples: (o, p, emit) => Array.from({ length: o.n }, (_, i) => emit(`${p},i="${i}"`, i * 0.25)) }];

const ITEMS: Section<Item> = { families: ITEM_FAMILIES, labelPrefix: (o) => `id="${escapeLabelValue(o.id)}"` };
const OTHERS: Section<Other> = { families: OTHER_FAMILIES, labelPrefix: (o) => `key="${escapeLabelValue(o.key)}"` };
const SECTIONS = [ITEMS, OTHERS] as const;

interface State {
  readonly generation: number;
  readonly items: readonly Item[];
  readonly others: readonly Other[];
}

/** The reference, written independently of the engine: every family in order, HELP/TYPE only when it has samples. */
function reference(st: State): string {
  const esc = (h: string) => h.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  const val = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));
  let out = '';
  const section = <T extends object>(s: Section<T>, objs: readonly T[]) => {
    for (const f of s.families) {
      const lines: string[] = [];
      for (const o of objs) f.samples(o, s.labelPrefix(o), (l, v) => lines.push(`${f.name}{${l}} ${val(v)}\n`));
      if (lines.length) out += `# HELP ${f.name} ${esc(f.help)}\n# TYPE ${f.name} gauge\n${lines.join('')}`;
    }
  };
  section(ITEMS, st.items);
  section(OTHERS, st.others);
  return out;
}

let serial = 0;
function newItem(rng: Rng): Item {
  const n = serial++;
  return {
    id: rng() < 0.1 ? `id "${n}"\\` : String(n),
    name: pick(rng, NAMES),
    ...(rng() < 0.8 ? { v: pick(rng, VALUES) } : {}),
    tags: Array.from({ length: int(rng, 4) }, () => pick(rng, NAMES)),
    flag: rng() < 0.1,
  };
}
const newOther = (rng: Rng): Other => ({ key: `k${serial++}`, n: int(rng, 4) });

function mutate(rng: Rng, st: State): State {
  let items = [...st.items];
  let others = [...st.others];
  const steps = 1 + int(rng, 4);
  for (let s = 0; s < steps; s++) {
    const op = rng();
    const at = (xs: readonly unknown[]) => int(rng, xs.length + 1);
    if (op < 0.25 && items.length) {
      // Modify a few, in a run or scattered.
      const k = 1 + int(rng, 5);
      const run = rng() < 0.5;
      const start = int(rng, items.length);
      for (let j = 0; j < k; j++) {
        const i = run ? (start + j) % items.length : int(rng, items.length);
        const o = items[i]!;
        const r = rng();
        items[i] = r < 0.3 ? { ...o } : r < 0.6 ? { ...o, v: pick(rng, VALUES) } : r < 0.8 ? { ...o, tags: o.tags.slice(1) } : { ...o, name: pick(rng, NAMES), flag: !o.flag };
      }
    } else if (op < 0.4) {
      const k = 1 + int(rng, rng() < 0.2 ? 40 : 3);
      const i = at(items);
      items.splice(i, 0, ...Array.from({ length: k }, () => newItem(rng)));
    } else if (op < 0.55 && items.length) {
      const i = int(rng, items.length);
      items.splice(i, 1 + int(rng, rng() < 0.2 ? 30 : 3));
    } else if (op < 0.62 && items.length > 1) {
      // Move one object elsewhere.
      const [o] = items.splice(int(rng, items.length), 1);
      items.splice(at(items), 0, o!);
    } else if (op < 0.66) {
      // Shuffle a stretch.
      const a = int(rng, items.length);
      const part = items.slice(a, a + 1 + int(rng, 20));
      for (let i = part.length - 1; i > 0; i--) {
        const j = int(rng, i + 1);
        [part[i], part[j]] = [part[j]!, part[i]!];
      }
      items.splice(a, part.length, ...part);
    } else if (op < 0.7) {
      // A family empties or fills everywhere.
      const on = rng() < 0.5;
      items = items.map((o) => ({ ...o, flag: on && rng() < 0.5 }));
    } else if (op < 0.73) {
      items = rng() < 0.5 ? [] : Array.from({ length: int(rng, 150) }, () => newItem(rng));
    } else if (op < 0.8) {
      items.reverse();
    } else if (op < 0.9) {
      const r = rng();
      if (r < 0.4) others.splice(at(others), 0, newOther(rng));
      else if (r < 0.7 && others.length) others.splice(int(rng, others.length), 1);
      else if (others.length) {
        const i = int(rng, others.length);
        others[i] = { ...others[i]!, n: int(rng, 4) };
      }
      if (rng() < 0.05) others = [];
    }
    // else: nothing changes (an update with the very same objects).
  }
  return { generation: st.generation + 1, items, others };
}

const SELF = '# HELP self_total Self.\n# TYPE self_total counter\nself_total 3\n';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe('incremental exposition: random change sequences', () => {
  const configs: [number, IncrementalOptions][] = [
    [1, { blockBytes: 64, maxBlockObjects: 4, chunkBytes: 200, compressor: 'inline' }],
    [2, { blockBytes: 300, maxBlockObjects: 16, chunkBytes: 1000, compressor: 'inline' }],
    [3, { blockBytes: 2000, maxBlockObjects: 1024, chunkBytes: 5000, compressor: 'inline' }],
    [4, { blockBytes: 1, maxBlockObjects: 1, chunkBytes: 1, compressor: 'inline' }],
    [5, { blockBytes: 500, maxBlockObjects: 64, chunkBytes: 3000, compressor: 'worker' }],
    [6, { blockBytes: 32 * 1024, compressor: 'worker' }],
  ];
  for (const [seed, opts] of configs) {
    it(`serves a full render's bytes after every update (seed ${seed}, ${JSON.stringify(opts)})`, async () => {
      const rng = mulberry32(seed);
      const layout: ExpositionLayout<State> = { sections: SECTIONS, objects: (st) => [st.items, st.others] };
      const cache = new ExpositionCache<State>(async () => SELF, { layout, engine: opts });
      closers.push(() => cache.close());
      const selfPlain = SELF;
      const selfOm = textToOpenMetrics(SELF);
      let st: State = { generation: 1, items: Array.from({ length: 60 }, () => newItem(rng)), others: [newOther(rng), newOther(rng)] };
      for (let step = 0; step < 80; step++) {
        await cache.update(st);
        const want = reference(st);
        const where = `seed ${seed}, step ${step}`;
        expect(renderFull(SECTIONS, [st.items, st.others]).toString(), where).toBe(want);
        const body = async (openMetrics: boolean, gzip: boolean) => {
          const e = await cache.expose({ openMetrics, gzip });
          const raw = Buffer.concat(e.chunks);
          expect(raw.length, where).toBe(e.length);
          return (gzip ? gunzipSync(raw) : raw).toString();
        };
        expect(await body(false, false), where).toBe(selfPlain + want);
        expect(await body(false, true), where).toBe(selfPlain + want);
        expect(await body(true, false), where).toBe(selfOm + want + '# EOF\n');
        expect(await body(true, true), where).toBe(selfOm + want + '# EOF\n');
        st = mutate(rng, st);
      }
    });
  }
});

// ---- The task section against the task renderer.

function randomTask(rng: Rng, id: string): TaskState {
  const status = rng() < 0.2 ? undefined : pick(rng, TASK_STATUSES);
  const targets = Array.from({ length: int(rng, 4) }, (_, j) => ({ type: pick(rng, ['uuid', 'groupId']), target: `t${j}${pick(rng, ['', '"', '\\'])}`, name: pick(rng, NAMES) }));
  const failing = rng() < 0.2;
  return {
    id,
    name: pick(rng, NAMES),
    ...(status ? { status, rawStatus: status } : {}),
    targets,
    ...(status ? { statusChangedAt: 1_700_000_000_000 + int(rng, 1e6), lastSuccessAt: 1_700_000_000_000 + int(rng, 1e6) } : {}),
    ...(rng() < 0.9 ? { lastPollOk: !failing } : {}),
    ...(failing ? { lastError: { class: 'api' as const, code: pick(rng, ['Throttling', 'Server"Error']) } } : {}),
  };
}

describe('incremental exposition of tasks', () => {
  it('equals renderTaskFamiliesSync after every update', async () => {
    const rng = mulberry32(77);
    const layout = snapshotLayout();
    const eng = new IncrementalExposition(layout.sections, { blockBytes: 400, maxBlockObjects: 8, chunkBytes: 2000, compressor: 'inline' });
    let next = 0;
    let tasks: TaskState[] = Array.from({ length: 50 }, () => randomTask(rng, String(next++)));
    for (let step = 0; step < 60; step++) {
      const pub = await eng.update(layout.objects(snapshotOf(tasks, step)));
      const want = renderTaskFamiliesSync(snapshotOf(tasks, step));
      const plain = Buffer.concat(pub.plain);
      expect(plain.equals(want), `step ${step}`).toBe(true);
      expect(gunzipSync(Buffer.concat(pub.gzip)).equals(want), `step ${step}`).toBe(true);
      tasks = [...tasks];
      const r = rng();
      if (r < 0.6) for (let k = 0; k < 5; k++) tasks[int(rng, tasks.length)] = randomTask(rng, tasks[int(rng, tasks.length)]!.id);
      else if (r < 0.8) tasks.splice(int(rng, tasks.length + 1), 0, randomTask(rng, `n${next++}`));
      else if (tasks.length) tasks.splice(int(rng, tasks.length), 1);
    }
  });
});

// ---- Costs: proportional to what changed.

interface Row {
  readonly id: number;
  readonly v: number;
}
const ROWS: Section<Row> = {
  labelPrefix: (r) => `row="${r.id}"`,
  families: [
    { name: 'row_a', help: 'A.', type: 'gauge', samples: (r, p, emit) => emit(p, r.v) },
    { name: 'row_b', help: 'B.', type: 'gauge', samples: (r, p, emit) => emit(`${p},k="constant"`, 1) },
  ],
};

const rows = (n: number, v = 0): Row[] => Array.from({ length: n }, (_, id) => ({ id, v }));

describe('incremental exposition: cost', () => {
  it('renders nothing, compresses nothing and builds no chunk when no object changed', async () => {
    const eng = new IncrementalExposition([ROWS], { blockBytes: 1024, chunkBytes: 16 * 1024, compressor: 'inline' });
    const list = rows(2000);
    const first = await eng.update([list]);
    expect(first.stats.objectRenders).toBe(4000);
    const again = await eng.update([[...list]]);
    expect(again.stats).toMatchObject({ objectRenders: 0, blocksRendered: 0, blocksCompressed: 0, chunksBuilt: 0, bytesCopied: 0 });
    // The very same buffers are served.
    expect(again.plain.every((b, i) => b === first.plain[i])).toBe(true);
    expect(again.gzip.every((b, i) => b === first.gzip[i])).toBe(true);
  });

  it('re-renders the blocks around a change, re-compresses only bytes that changed, rebuilds only the chunks holding them', async () => {
    const eng = new IncrementalExposition([ROWS], { blockBytes: 1024, chunkBytes: 16 * 1024, compressor: 'inline' });
    let list = rows(2000);
    const first = await eng.update([list]);
    const blocks = first.stats.blocks;
    expect(blocks).toBeGreaterThan(100);
    list = [...list];
    for (let i = 1000; i < 1010; i++) list[i] = { id: i, v: 7 };
    const pub = await eng.update([list]);
    // 10 objects in 2 families: a block or two each (a block holds ~40 rows here).
    expect(pub.stats.blocksRendered).toBeLessThanOrEqual(4);
    expect(pub.stats.objectRenders).toBeLessThanOrEqual(4 * 45);
    // row_b's bytes did not change: only row_a's block(s) are compressed again.
    expect(pub.stats.blocksCompressed).toBeLessThanOrEqual(2);
    expect(pub.stats.chunksBuilt).toBeLessThanOrEqual(4);
    // One plain chunk or two (of 16 KiB, out of ~110 KB), and the gzip one (the whole gzip body is one chunk here).
    expect(first.plain.length).toBeGreaterThan(5);
    expect(pub.stats.bytesCopied).toBeLessThanOrEqual(2 * 17 * 1024 + first.gzipLength);
    expect(Buffer.concat(pub.plain).equals(renderFull([ROWS], [list]))).toBe(true);
  });

  it('adding or removing an object touches only the blocks around it', async () => {
    const eng = new IncrementalExposition([ROWS], { blockBytes: 1024, chunkBytes: 16 * 1024, compressor: 'inline' });
    let list = rows(2000);
    await eng.update([list]);
    list = [...list.slice(0, 500), { id: 99_999, v: 1 }, ...list.slice(500, 1500), ...list.slice(1501)];
    const pub = await eng.update([list]);
    expect(pub.stats.blocksRendered).toBeLessThanOrEqual(8);
    expect(pub.stats.chunksBuilt).toBeLessThanOrEqual(8);
    expect(Buffer.concat(pub.plain).equals(renderFull([ROWS], [list]))).toBe(true);
  });
});

describe('incremental exposition: samples growing at one place', () => {
  // The first cycle of a large list: tasks are answered one after another,
  // and a family's samples (status, say) grow at the end of those answered.
  const ANSWERED: Section<Row> = {
    labelPrefix: (r) => `row="${r.id}"`,
    families: [{ name: 'row_answered', help: 'Only once answered.', type: 'gauge', samples: (r, p, emit) => (r.v > 0 ? emit(p, r.v) : undefined) }],
  };

  it('copy only the new bytes into chunks, not the growing chunk again at every publication', async () => {
    const eng = new IncrementalExposition([ANSWERED], { blockBytes: 1024, chunkBytes: 16 * 1024, compressor: 'inline' });
    let list: Row[] = Array.from({ length: 3000 }, (_, id) => ({ id, v: 0 }));
    await eng.update([list]);
    let copied = 0;
    let grown = 0;
    for (let step = 0; step < 30; step++) {
      const before = eng.current.plainLength;
      list = [...list];
      for (let i = step * 100; i < (step + 1) * 100; i++) list[i] = { id: i, v: 1 };
      const pub = await eng.update([list]);
      expect(Buffer.concat(pub.plain).equals(renderFull([ANSWERED], [list]))).toBe(true);
      // The gzip body is one small chunk here, rebuilt every time; the plain bytes copied are what counts.
      copied += pub.stats.bytesCopied - pub.gzipLength;
      grown += pub.plainLength - before;
    }
    // ~30 x 2 KB grown; the growing 16-32 KiB chunk copied at every step would be ~10 times that.
    expect(grown).toBeGreaterThan(50_000);
    expect(copied).toBeLessThanOrEqual(3 * grown);
  });
});

describe('incremental exposition: block sizes', () => {
  // Rows render to ~21 (row_a) and ~34 (row_b) bytes: ~100 and ~60 rows a block of 2 KiB, twice that at most;
  // an update renders three blocks a family at most (the one changed, the rest of a split, one taken in).
  const opts = { blockBytes: 2048, chunkBytes: 64 * 1024, compressor: 'inline' } as const;

  it('stay near blockBytes through many single insertions and removals', async () => {
    const rng = mulberry32(9);
    const eng = new IncrementalExposition([ROWS], opts);
    let list = rows(3000);
    const first = await eng.update([list]);
    let next = 10_000;
    for (let k = 0; k < 300; k++) {
      list = [...list];
      if (k % 3 === 2) list.splice(int(rng, list.length), 1);
      else list.splice(int(rng, list.length + 1), 0, { id: next++, v: 1 });
      const pub = await eng.update([list]);
      expect(pub.stats.objectRenders, `step ${k}`).toBeLessThanOrEqual(3 * (200 + 120));
    }
    const pub = await eng.update([list]);
    expect(pub.stats.blocks).toBeLessThanOrEqual(1.5 * first.stats.blocks);
    // Chunks split as blocks grow; once too many, they are laid out afresh.
    expect(pub.plain.length).toBeLessThanOrEqual(2 * (2 * Math.ceil(pub.plainLength / opts.chunkBytes) + 2));
    expect(Buffer.concat(pub.plain).equals(renderFull([ROWS], [list]))).toBe(true);
  });

  it('stay bounded when objects keep arriving at a block boundary (a tiny block takes in the next, up to 2 x blockBytes)', async () => {
    const eng = new IncrementalExposition([ROWS], opts);
    let list = rows(3000);
    const first = await eng.update([list]);
    for (let k = 0; k < 600; k++) {
      list = [{ id: 10_000 + k, v: 1 }, ...list];
      const pub = await eng.update([list]);
      expect(pub.stats.objectRenders, `step ${k}`).toBeLessThanOrEqual(3 * (200 + 120));
    }
    const pub = await eng.update([list]);
    expect(pub.stats.blocks).toBeLessThanOrEqual(1.5 * first.stats.blocks);
    expect(Buffer.concat(pub.plain).equals(renderFull([ROWS], [list]))).toBe(true);
  });
});

describe('incremental exposition: failures and misuse', () => {
  it('keeps the last publication when compression fails, and recovers', async () => {
    let fail = false;
    const inline = { gzip: (b: Buffer) => (fail ? Promise.reject(new Error('boom')) : Promise.resolve(storedGzipMember(b))), flush: () => undefined, close: async () => undefined } satisfies Compressor;
    const eng = new IncrementalExposition([ROWS], { blockBytes: 256, compressor: inline });
    const a = await eng.update([rows(100)]);
    fail = true;
    await expect(eng.update([rows(100, 5)])).rejects.toThrow('boom');
    expect(eng.current).toBe(a);
    fail = false;
    const list = rows(100, 6);
    const b = await eng.update([list]);
    expect(gunzipSync(Buffer.concat(b.gzip)).equals(renderFull([ROWS], [list]))).toBe(true);
  });

  it('waits for compression to catch up rather than piling up rendered bytes', async () => {
    let out = 0;
    let most = 0;
    const slow = {
      gzip: (data: Buffer) => {
        const b = Buffer.from(data); // read at once, as the contract says: the engine reuses its buffer
        out += b.length;
        most = Math.max(most, out);
        return new Promise<Buffer>((resolve) =>
          setTimeout(() => {
            out -= b.length;
            resolve(storedGzipMember(b));
          }, 100),
        );
      },
      flush: () => undefined,
      close: async () => undefined,
    } satisfies Compressor;
    const eng = new IncrementalExposition([ROWS], { blockBytes: 64 * 1024, compressor: slow });
    const list = rows(150_000, 1);
    const pub = await eng.update([list]);
    expect(pub.plainLength).toBeGreaterThan(8_000_000);
    // 2 MiB outstanding at most, plus the block that crossed the line.
    expect(most).toBeLessThanOrEqual(2 * 1024 * 1024 + 200 * 1024);
    expect(gunzipSync(Buffer.concat(pub.gzip)).equals(renderFull([ROWS], [list]))).toBe(true);
  });

  it('refuses overlapping updates, a family declared twice and a wrong number of lists', async () => {
    const eng = new IncrementalExposition([ROWS], { compressor: 'inline' });
    const a = eng.update([rows(10)]);
    await expect(eng.update([rows(10)])).rejects.toThrow(/already running/);
    await a;
    expect(() => new IncrementalExposition([ROWS, ROWS])).toThrow(/declared twice/);
    await expect(eng.update([] as unknown as [Row[]])).rejects.toThrow(/0 object lists for 1 sections/);
  });

  it('compresses in a worker thread by default, and the worker can be closed and started again', async () => {
    const eng = new IncrementalExposition([ROWS], { blockBytes: 512 });
    const list = rows(3000, 2);
    const pub = await eng.update([list]);
    expect(gunzipSync(Buffer.concat(pub.gzip)).equals(renderFull([ROWS], [list]))).toBe(true);
    await eng.close();
    const list2 = rows(3000, 3);
    const pub2 = await eng.update([list2]);
    expect(gunzipSync(Buffer.concat(pub2.gzip)).equals(renderFull([ROWS], [list2]))).toBe(true);
    await eng.close();
  });
});

// ---- The exporter's whole layout: accounts, tasks, latest scans and machines.

function randomScan(rng: Rng, rootTaskId: string): LatestScanState {
  if (rng() < 0.15) return rng() < 0.5 ? {} : { lastPollOk: true };
  const rows: MachineState[] = Array.from({ length: int(rng, 12) }, (_, i) => ({
    uuid: `u-${int(rng, 40)}-${i}`,
    rootTaskId,
    instanceName: pick(rng, NAMES),
    internetIp: '8.210.XX.XX',
    intranetIp: rng() < 0.5 ? '' : '172.16.XX.XX',
    status: pick(rng, MACHINE_SCAN_STATUSES),
    ...(rng() < 0.8 ? { progressPercent: int(rng, 101) } : {}),
    ...(rng() < 0.8 ? { startTimeMs: 1_700_000_000_000 + int(rng, 1e6) } : {}),
    ...(rng() < 0.5 ? { endTimeMs: 1_700_000_100_000 + int(rng, 1e6) } : {}),
  }));
  const unique = [...new Map(rows.map((m) => [m.uuid, m])).values()];
  return {
    lastPollOk: rng() < 0.8,
    ...(rng() < 0.2 ? { lastError: { class: 'api' as const, code: 'NoPermission' } } : {}),
    scan: {
      taskId: rootTaskId,
      status: pick(rng, ['pending', 'running', 'complete', 'unknown'] as const),
      ...(rng() < 0.8 ? { progressPercent: int(rng, 101) } : {}),
      scanType: pick(rng, ['system', 'user']),
      scanPaths: [],
      machines: { scanned: unique.length, ...(rng() < 0.7 ? { suspicious: int(rng, 3) } : {}) },
      riskLevel: pick(rng, ['high', 'medium', 'low', 'none'] as const),
    },
    ...(rng() < 0.8 ? { machines: { taskId: rootTaskId, rows: unique, dropped: int(rng, 3), listedAt: 0 } } : {}),
  };
}

describe('incremental exposition of whole snapshots (accounts, tasks, latest scans, machines)', () => {
  for (const multiAccount of [true, false]) {
    it(`equals the reference render after every update (${multiAccount ? 'multi' : 'single'}-account form)`, async () => {
      const rng = mulberry32(multiAccount ? 4242 : 2424);
      const layout = snapshotLayout();
      const eng = new IncrementalExposition(layout.sections, { blockBytes: 300, maxBlockObjects: 6, chunkBytes: 1500, compressor: 'inline' });
      const names = multiAccount ? ['prod', 'staging', 'a"b\\c'] : [''];
      let next = 0;
      let accounts = names.map((name) => ({ name, tasks: Array.from({ length: 10 }, () => randomTask(rng, String(next++ % 7))), latestScan: randomScan(rng, `root${int(rng, 3)}`) }));
      // The same task ID in two accounts is two tasks: IDs repeat across accounts on purpose.
      for (let step = 0; step < 60; step++) {
        const snap: Snapshot = { generation: step, createdAt: 0, multiAccount, accounts };
        const pub = await eng.update(layout.objects(snap));
        const want = renderTaskFamiliesSync(snap);
        expect(Buffer.concat(pub.plain).equals(want), `step ${step}`).toBe(true);
        // Nothing at all to serve is no gzip member at all (the cache sends an empty gzip stream then).
        if (want.length === 0) expect(pub.gzip, `step ${step}`).toEqual([]);
        else expect(gunzipSync(Buffer.concat(pub.gzip)).equals(want), `step ${step}`).toBe(true);
        accounts = accounts.map((a) => {
          const r = rng();
          if (r < 0.3) return a; // unchanged: the very same objects
          const tasks = [...a.tasks];
          if (r < 0.6 && tasks.length) tasks[int(rng, tasks.length)] = randomTask(rng, tasks[int(rng, tasks.length)]!.id);
          else if (r < 0.75) tasks.splice(int(rng, tasks.length + 1), 0, randomTask(rng, `n${next++}`));
          else if (tasks.length) tasks.splice(int(rng, tasks.length), 1);
          const unique = [...new Map(tasks.map((t) => [t.id, t])).values()];
          return { ...a, tasks: unique, latestScan: rng() < 0.5 ? randomScan(rng, `root${int(rng, 3)}`) : a.latestScan };
        });
        if (multiAccount && rng() < 0.1) accounts = accounts.slice(1).concat(accounts.slice(0, 1)); // reordered by a reload
      }
    });
  }
});
