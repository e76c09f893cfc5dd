/**
 * Incremental exposition: re-renders and re-compresses only what changed.
 *
 * An exposition is an ordered list of sections. A section is a family table
 * (every family turns one object into samples, as TASK_FAMILIES does) over
 * an ordered list of immutable objects, each identified by its label prefix
 * (`task_id="..."`). The caller passes the new object lists, nothing else: an
 * object that is not the very same object as before has changed.
 *
 * Each family's samples are kept in blocks of consecutive objects, about
 * `blockBytes` of text each, as plain bytes and as a gzip member of their
 * own (RFC 1952: members concatenate into one valid gzip stream). An update
 * walks each family's blocks: a block whose objects are all the same objects
 * is kept as it is; the others are rendered again, and compressed again only
 * when their bytes differ (a task's info line rarely changes when its state
 * does). Blocks are found again by the label prefix of their first object,
 * so adding or removing an object only touches the blocks around it.
 *
 * What is served are chunks of about `chunkBytes` (few writes per scrape),
 * plain and gzip, in the text format's order: for each family, HELP and TYPE
 * then its samples object by object; a family without samples is left out
 * whole. Only the chunks holding a changed block are built again; a kept
 * block's bytes are a view into the chunk that holds them, so nothing is
 * stored twice. A publication is immutable: a scrape holds one whole.
 *
 * Rendering yields to the event loop every few ms; compression runs in a
 * worker thread (see compressor.ts). Updates must not overlap (callers
 * serialise them; ExpositionCache does).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import zlib from 'node:zlib';
import { InlineCompressor, WorkerCompressor, type Compressor } from './compressor.js';
import { escapeHelp, formatValue } from './exposition.js';
import type { Emit, Family } from './family.js';

export type { Emit, Family };

export interface Section<T extends object> {
  readonly families: readonly Family<T>[];
  /**
   * The object's identifying label pairs, escaped, e.g. `task_id="42"`;
   * unique within the section. Computed once per object (objects are
   * immutable) and used to find blocks again after objects were added or
   * removed.
   */
  labelPrefix(object: T): string;
}

export type AnySection = Section<any>;

/** The object lists of an update, one per section, in the sections' order. */
export type SectionObjects<S extends readonly AnySection[]> = {
  readonly [K in keyof S]: S[K] extends Section<infer T> ? readonly T[] : never;
};

export interface IncrementalOptions {
  /** Plain bytes per block: the unit of re-rendering and of compression (default 32 KiB). */
  readonly blockBytes?: number;
  /** Objects per block at most, for families with few or no samples per object (default 256). */
  readonly maxBlockObjects?: number;
  /** Bytes per served chunk (default 256 KiB). */
  readonly chunkBytes?: number;
  /** Work between two yields to the event loop (default 5 ms). */
  readonly sliceMs?: number;
  readonly gzipLevel?: number;
  /** 'worker' (default): compression in a worker thread; 'inline': gzipSync between time slices. */
  readonly compressor?: 'worker' | 'inline' | Compressor;
}

export interface UpdateStats {
  /** Objects in all sections. */
  readonly objects: number;
  /** (object, family) pairs rendered; a full render is objects x families. */
  readonly objectRenders: number;
  /** Blocks in the exposition after the update, and how many were rendered / compressed by it. */
  readonly blocks: number;
  readonly blocksRendered: number;
  readonly blocksCompressed: number;
  readonly bytesCompressed: number;
  /** Served chunks (plain and gzip) built again, and the bytes copied into them. */
  readonly chunksBuilt: number;
  readonly bytesCopied: number;
  readonly ms: number;
}

/** What a scrape sends: immutable, consistent. */
export interface Publication {
  readonly plain: readonly Buffer[];
  readonly plainLength: number;
  /** Concatenated gzip members. */
  readonly gzip: readonly Buffer[];
  readonly gzipLength: number;
  readonly stats: UpdateStats;
}

interface Block<T> {
  /** Unique in the engine; kept while the block is found again by its key. */
  readonly id: number;
  /** Label prefix of the first object. */
  readonly key: string;
  readonly objs: readonly T[];
  /** A view into the served chunk once laid out. */
  plain: Buffer;
  /** Empty when plain is. */
  gz: Buffer;
}

interface FamilyState<T> {
  readonly family: Family<T>;
  readonly linePrefix: string;
  readonly headerKey: number;
  readonly header: Buffer;
  readonly headerGz: Buffer;
  blocks: readonly Block<T>[];
}

interface SectionState<T extends object> {
  readonly section: Section<T>;
  readonly keys: WeakMap<T, string>;
  readonly families: readonly FamilyState<T>[];
}

interface Piece {
  readonly key: number;
  buf: Buffer;
  /** Set for blocks: their bytes are re-pointed into the chunk built. */
  readonly block?: Block<unknown>;
  /** `buf` is only lent (the render's reused buffer): copied before push() returns. */
  readonly lent?: true;
}

interface Chunk {
  readonly start: number;
  readonly parts: readonly Buffer[];
  readonly buf: Buffer;
}

type MutableStats = { -readonly [K in keyof UpdateStats]: UpdateStats[K] };

const EMPTY = Buffer.alloc(0);

function header<T>(f: Family<T>): string {
  return `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
}

/** Time slices: checked every 16 steps, or at every step for coarse ones. */
class Slicer {
  private start = performance.now();
  private steps = 0;
  constructor(private readonly ms: number) {}
  due(coarse = false): boolean {
    if (!coarse && (++this.steps & 15) !== 0) return false;
    return performance.now() - this.start >= this.ms;
  }
  reset(): void {
    this.start = performance.now();
    this.steps = 0;
  }
}

function sameObjects<T>(list: readonly T[], from: number, objs: readonly T[]): boolean {
  if (from + objs.length > list.length) return false;
  for (let j = 0; j < objs.length; j++) if (list[from + j] !== objs[j]) return false;
  return true;
}

/**
 * Cuts pieces into chunks as they come, and builds each chunk as soon as it
 * is complete. A chunk starts where one started before (so a change only
 * rebuilds the chunks around it, never shifts the others), or once the
 * current one holds `target` bytes (2 x target for a chunk that started
 * where one did before: a block growing a little moves nothing). A chunk
 * whose pieces are all the same buffers as before is kept, also when new
 * pieces follow it (they start a chunk of their own); so is a leading half
 * or more of one, as a view of its buffer. Another is copied together, and
 * the blocks' bytes re-pointed into it.
 */
class ChunkBuilder {
  readonly chunks: Chunk[] = [];
  private readonly starts = new Map<number, Chunk>();
  private group: Piece[] = [];
  private bytes = 0;
  private limit: number;
  /** Bytes of `staging` holding the open chunk's lent pieces. */
  private staged = 0;
  /** The old chunk that started where the open group starts, and how many of its pieces the group begins with. */
  private old: Chunk | undefined;
  private matched = 0;

  /**
   * `staging`: where lent pieces wait for their chunk, reused chunk after
   * chunk and update after update (rendered blocks need no buffer each: at
   * every full render that was the whole exposition again in short-lived
   * buffers, freed only at the next GC).
   */
  constructor(
    old: readonly Chunk[],
    private readonly target: number,
    private readonly kind: 'plain' | 'gz',
    private readonly stats: MutableStats,
    private readonly staging: Buffer = EMPTY,
  ) {
    for (const c of old) this.starts.set(c.start, c);
    this.limit = target;
  }

  push(p: Piece): void {
    if (p.buf.length === 0) return;
    if (this.group.length > 0 && (this.starts.has(p.key) || this.bytes >= this.limit || this.endsOld(p))) this.close();
    if (this.group.length === 0) {
      this.limit = this.starts.has(p.key) ? 2 * this.target : this.target;
      this.old = this.starts.get(p.key);
      this.matched = 0;
    }
    // Still the old chunk's pieces, in order, so far?
    if (this.old !== undefined && this.matched === this.group.length && this.old.parts[this.matched] === p.buf) this.matched++;
    if (p.lent) {
      const len = p.buf.length;
      // In the staging buffer while it has room (it holds a chunk's worth); a piece beyond gets a buffer of its own.
      let own: Buffer;
      if (this.staged + len <= this.staging.length) {
        own = this.staging.subarray(this.staged, this.staged + len);
        p.buf.copy(own);
        this.staged += len;
      } else {
        own = Buffer.from(p.buf);
      }
      p.buf = own;
      if (p.block) {
        if (this.kind === 'plain') p.block.plain = own;
        else p.block.gz = own;
      }
    }
    this.group.push(p);
    this.bytes += p.buf.length;
  }

  finish(): Chunk[] {
    if (this.group.length > 0) this.close();
    return this.chunks;
  }

  /**
   * The open group is the leading pieces of the old chunk that started
   * where it starts, and `p` is not that chunk's next piece (new bytes
   * follow it, or a block of it changed): the group ends here, and is served
   * from the old chunk's buffer with nothing copied (kept whole, or as a
   * view of its leading part when that is half a chunk or more). Without
   * this, a family whose samples grow at one place (the first cycle: tasks
   * answered one after another) copied its growing chunk again at every
   * publication, ~100 MB of buffers in a 10,000-task first cycle, freed
   * only at V8's next major GC.
   */
  private endsOld(p: Piece): boolean {
    const old = this.old;
    if (old === undefined || this.matched !== this.group.length || old.parts[this.matched] === p.buf) return false;
    return this.matched === old.parts.length || 2 * this.bytes >= this.target;
  }

  private close(): void {
    const g = this.group;
    this.group = [];
    const len = this.bytes;
    this.bytes = 0;
    const old = this.old;
    if (old !== undefined && this.matched === g.length) {
      // The old chunk whole, or its first `len` bytes (its pieces were laid out from 0).
      this.chunks.push(g.length === old.parts.length ? old : { start: old.start, parts: old.parts.slice(0, g.length), buf: old.buf.subarray(0, len) });
      return;
    }
    // Every staged piece is in this chunk and copied below: the staging buffer is free again after it.
    this.staged = 0;
    const buf = Buffer.allocUnsafeSlow(len);
    const parts: Buffer[] = [];
    let off = 0;
    for (const p of g) {
      p.buf.copy(buf, off);
      const end = off + p.buf.length;
      if (p.block) {
        // The block's bytes now live in the chunk: the buffer it was rendered into can go.
        const view = buf.subarray(off, end);
        if (this.kind === 'plain') p.block.plain = view;
        else p.block.gz = view;
        parts.push(view);
      } else {
        parts.push(p.buf);
      }
      off = end;
    }
    this.chunks.push({ start: g[0]!.key, parts, buf });
    this.stats.chunksBuilt++;
    this.stats.bytesCopied += len;
  }
}

/** Bytes sent to compression and not back yet, at most; rendering waits beyond (bounded memory on a full render). */
const COMPRESSION_BACKLOG = 2 * 1024 * 1024;

/** What the render generator yields: a time slice is up, or compression is behind. */
const enum Pause {
  Slice,
  Backlog,
}

export class IncrementalExposition<S extends readonly AnySection[]> {
  private readonly state: readonly SectionState<object>[];
  private readonly blockBytes: number;
  private readonly maxBlockObjects: number;
  private readonly chunkBytes: number;
  private readonly sliceMs: number;
  private readonly compressor: Compressor;
  private nextId = 1;
  private plainChunks: readonly Chunk[] = [];
  private gzipChunks: readonly Chunk[] = [];
  /** Set when the chunks got fragmented: the next update lays them out afresh. */
  private relayout = false;
  private updating = false;
  private published: Publication = {
    plain: [],
    plainLength: 0,
    gzip: [],
    gzipLength: 0,
    stats: { objects: 0, objectRenders: 0, blocks: 0, blocksRendered: 0, blocksCompressed: 0, bytesCompressed: 0, chunksBuilt: 0, bytesCopied: 0, ms: 0 },
  };

  constructor(sections: S, options: IncrementalOptions = {}) {
    this.blockBytes = options.blockBytes ?? 32 * 1024;
    this.maxBlockObjects = options.maxBlockObjects ?? 256;
    this.chunkBytes = options.chunkBytes ?? 256 * 1024;
    this.sliceMs = options.sliceMs ?? 5;
    for (const [what, v] of [['blockBytes', this.blockBytes], ['maxBlockObjects', this.maxBlockObjects], ['chunkBytes', this.chunkBytes]] as const) {
      if (!(v >= 1)) throw new RangeError(`IncrementalExposition: ${what} must be >= 1, got ${v}`);
    }
    const level = options.gzipLevel ?? 6;
    const c = options.compressor ?? 'worker';
    this.compressor = c === 'worker' ? new WorkerCompressor(level) : c === 'inline' ? new InlineCompressor(level) : c;
    const names = new Set<string>();
    let headerKey = 0;
    this.state = sections.map((section) => ({
      section,
      keys: new WeakMap<object, string>(),
      families: section.families.map((family) => {
        // The text format wants each family in one piece, so a name belongs to one section.
        if (names.has(family.name)) throw new Error(`IncrementalExposition: family ${family.name} is declared twice`);
        names.add(family.name);
        const h = Buffer.from(header(family));
        return { family, linePrefix: `${family.name}{`, headerKey: --headerKey, header: h, headerGz: zlib.gzipSync(h, { level }), blocks: [] };
      }),
    }));
  }

  /** The last publication (empty before the first update). */
  get current(): Publication {
    return this.published;
  }

  /** Stops the compression worker (a later update starts it again). */
  close(): Promise<void> {
    return this.compressor.close();
  }

  /**
   * Publishes the new object lists. Objects that are the same objects as in
   * the last update are not rendered again. Rejects (and keeps the last
   * publication) if rendering or compression fails.
   */
  async update(objects: SectionObjects<S>): Promise<Publication> {
    if (this.updating) throw new Error('IncrementalExposition: an update is already running');
    const lists = objects as unknown as readonly (readonly object[])[];
    if (lists.length !== this.state.length) throw new Error(`IncrementalExposition: ${lists.length} object lists for ${this.state.length} sections`);
    this.updating = true;
    try {
      return await this.run(lists);
    } finally {
      this.updating = false;
    }
  }

  private async run(lists: readonly (readonly object[])[]): Promise<Publication> {
    const t0 = performance.now();
    const stats: MutableStats = { objects: 0, objectRenders: 0, blocks: 0, blocksRendered: 0, blocksCompressed: 0, bytesCompressed: 0, chunksBuilt: 0, bytesCopied: 0, ms: 0 };
    const clock = new Slicer(this.sliceMs);
    const jobs = new Backlog();
    // Plain chunks are built while rendering, in exposition order: the
    // rendered blocks never pile up beside the chunks that will hold them.
    const plain = new ChunkBuilder(this.relayout ? [] : this.plainChunks, this.chunkBytes, 'plain', stats, this.stagingBuffer());
    const staged: Block<object>[][][] = [];
    for (let s = 0; s < this.state.length; s++) {
      const sec = this.state[s]!;
      const list = lists[s]!;
      stats.objects += list.length;
      const perFamily: Block<object>[][] = [];
      for (const fam of sec.families) {
        const out: Block<object>[] = [];
        const gen = this.renderFamily(sec, fam, list, out, plain, jobs, stats, clock);
        for (let r = gen.next(); !r.done; r = gen.next()) {
          this.compressor.flush();
          if (r.value === Pause.Backlog) await jobs.below(COMPRESSION_BACKLOG / 2);
          else await yieldToLoop();
          clock.reset();
        }
        perFamily.push(out);
        stats.blocks += out.length;
      }
      staged.push(perFamily);
    }
    const plainChunks = plain.finish();
    this.compressor.flush();
    await jobs.all();
    clock.reset();

    const gzip = new ChunkBuilder(this.relayout ? [] : this.gzipChunks, this.chunkBytes, 'gz', stats);
    for (let s = 0; s < this.state.length; s++) {
      const fams = this.state[s]!.families;
      for (let f = 0; f < fams.length; f++) {
        const blocks = staged[s]![f]!;
        if (!blocks.some((b) => b.plain.length > 0)) continue;
        gzip.push({ key: fams[f]!.headerKey, buf: fams[f]!.headerGz });
        for (const b of blocks) gzip.push({ key: b.id, buf: b.gz, block: b });
      }
    }
    const gzipChunks = gzip.finish();

    // Commit: nothing below can fail.
    for (let s = 0; s < this.state.length; s++) {
      const fams = this.state[s]!.families;
      for (let f = 0; f < fams.length; f++) fams[f]!.blocks = staged[s]![f]!;
    }
    this.plainChunks = plainChunks;
    this.gzipChunks = gzipChunks;
    let plainLength = 0;
    let gzipLength = 0;
    for (const c of plainChunks) plainLength += c.buf.length;
    for (const c of gzipChunks) gzipLength += c.buf.length;
    // Splits leave small chunks behind; once they are many, the next update lays out afresh.
    const many = (chunks: number, bytes: number) => chunks > 2 * Math.ceil(bytes / this.chunkBytes) + 2;
    this.relayout = many(plainChunks.length, plainLength) || many(gzipChunks.length, gzipLength);
    stats.ms = performance.now() - t0;
    this.published = Object.freeze({
      plain: Object.freeze(plainChunks.map((c) => c.buf)),
      plainLength,
      gzip: Object.freeze(gzipChunks.map((c) => c.buf)),
      gzipLength,
      stats: Object.freeze(stats),
    });
    return this.published;
  }

  /**
   * One family's blocks for the new list, pushed to the plain chunks as they
   * are done. Yields when its time slice is up or compression is behind.
   * A block is kept when it holds the very same objects; otherwise it is
   * rendered from its first object up to the next kept block's first object
   * (cut once it holds blockBytes, or 2 x blockBytes when it replaces a
   * block: a block that grows a little keeps its bounds). A block left tiny
   * by additions or removals takes in the block after it.
   */
  private *renderFamily<T extends object>(
    sec: SectionState<T>,
    fam: FamilyState<T>,
    list: readonly T[],
    out: Block<T>[],
    plain: ChunkBuilder,
    jobs: Backlog,
    stats: MutableStats,
    clock: Slicer,
  ): Generator<Pause, void, void> {
    const { blockBytes, maxBlockObjects } = this;
    const keys = sec.keys;
    const labelPrefix = sec.section.labelPrefix;
    const keyOf = (o: T): string => {
      let k = keys.get(o);
      if (k === undefined) {
        k = labelPrefix(o);
        keys.set(o, k);
      }
      return k;
    };
    const anchors = new Map<string, Block<T>>();
    for (const b of fam.blocks) if (!anchors.has(b.key)) anchors.set(b.key, b);
    const family = fam.family;
    const linePrefix = fam.linePrefix;
    let text = '';
    const emit: Emit = (labels, value) => {
      text += (labels === '' ? fam.family.name + ' ' : linePrefix + labels + '} ') + formatValue(value) + '\n';
    };
    // HELP and TYPE go before the family's first sample: a family without samples is left out whole.
    let headed = false;
    const add = (b: Block<T>, lent = false): void => {
      out.push(b);
      if (b.plain.length === 0) return;
      if (!headed) {
        plain.push({ key: fam.headerKey, buf: fam.header });
        headed = true;
      }
      plain.push(lent ? { key: b.id, buf: b.plain, block: b, lent } : { key: b.id, buf: b.plain, block: b });
    };
    const finish = (prev: Block<T> | undefined, key: string, objs: T[], body: string): void => {
      stats.objectRenders += objs.length;
      stats.blocksRendered++;
      // Encoded into a reused buffer first: most blocks rendered again come out
      // the same (a task's targets rarely change with its status), and need no buffer of their own.
      const scratch = this.scratchFor(body.length);
      const len = body.length === 0 ? 0 : scratch.write(body);
      if (prev !== undefined && len === prev.plain.length && scratch.subarray(0, len).equals(prev.plain)) {
        // Same bytes: keep them and their gzip member (and so the chunks holding them).
        add({ id: prev.id, key, objs, plain: prev.plain, gz: prev.gz });
        return;
      }
      const block: Block<T> = { id: prev ? prev.id : this.nextId++, key, objs, plain: EMPTY, gz: EMPTY };
      if (len === 0) {
        add(block);
        return;
      }
      // The bytes stay in the scratch buffer: the compressor reads them at once, and the
      // chunk builder copies them to where they wait for their chunk (block.plain then points there).
      const bytes = scratch.subarray(0, len);
      stats.blocksCompressed++;
      stats.bytesCompressed += len;
      jobs.add(
        this.compressor.gzip(bytes).then((gz) => {
          block.gz = gz;
        }),
        len,
      );
      block.plain = bytes;
      add(block, true);
    };
    const n = list.length;
    let i = 0;
    while (i < n) {
      const key = keyOf(list[i]!);
      const prev = anchors.get(key);
      if (prev !== undefined) {
        anchors.delete(key);
        if (sameObjects(list, i, prev.objs)) {
          add(prev);
          i += prev.objs.length;
          continue;
        }
      }
      text = '';
      const objs: T[] = [];
      let limit = prev ? 2 * blockBytes : blockBytes;
      // Where the block first held blockBytes: a block outgrowing 2 x blockBytes is split there.
      let half = 0;
      let halfLen = 0;
      let k = key;
      let split = false;
      for (;;) {
        const o = list[i]!;
        family.samples(o, k, emit);
        objs.push(o);
        i++;
        if (half === 0 && text.length >= blockBytes) {
          half = objs.length;
          halfLen = text.length;
        }
        if (clock.due()) yield Pause.Slice;
        if (i >= n || objs.length >= maxBlockObjects) break;
        k = keyOf(list[i]!);
        if (anchors.has(k)) {
          if (text.length >= blockBytes / 4) break;
          // Tiny (objects were added or removed here): take in the next block.
          anchors.delete(k);
          limit = 2 * blockBytes;
        } else if (text.length >= limit) {
          split = limit > blockBytes;
          break;
        }
      }
      if (split && half > 0 && half < objs.length) {
        // In halves rather than at the limit: the first half has room to grow
        // again, so objects arriving at one place do not shift every block after it.
        finish(prev, key, objs.slice(0, half), text.slice(0, halfLen));
        finish(undefined, keyOf(objs[half]!), objs.slice(half), text.slice(halfLen));
      } else {
        finish(prev, key, objs, text);
      }
      text = '';
      if (jobs.bytes > COMPRESSION_BACKLOG) yield Pause.Backlog;
    }
  }

  private scratch = Buffer.alloc(0);
  private staging = EMPTY;

  /** Room for one plain chunk at its largest (2 x chunkBytes) and the block that closes it. */
  private stagingBuffer(): Buffer {
    if (this.staging.length === 0) this.staging = Buffer.allocUnsafeSlow(2 * this.chunkBytes + 2 * this.blockBytes);
    return this.staging;
  }

  /** A buffer that holds `chars` UTF-16 code units as UTF-8 (3 bytes each at most). */
  private scratchFor(chars: number): Buffer {
    if (this.scratch.length < chars * 3) this.scratch = Buffer.allocUnsafeSlow(Math.max(chars * 3, 256 * 1024));
    return this.scratch;
  }
}

/** Compression jobs of an update: all awaited at the end; the bytes not back yet, to wait on when too many. */
class Backlog {
  bytes = 0;
  private readonly jobs: { readonly done: Promise<void>; readonly bytes: number }[] = [];
  private next = 0;

  add(job: Promise<void>, bytes: number): void {
    this.bytes += bytes;
    const done = job.then(() => {
      this.bytes -= bytes;
    });
    // A failure is reported by all(); until then it must not count as unhandled.
    done.catch(() => undefined);
    this.jobs.push({ done, bytes });
  }

  /** Waits, oldest job first, until fewer than `bytes` are out. */
  async below(bytes: number): Promise<void> {
    while (this.bytes > bytes && this.next < this.jobs.length) await this.jobs[this.next++]!.done;
  }

  async all(): Promise<void> {
    await Promise.all(this.jobs.map((j) => j.done));
  }
}

/**
 * A straightforward full render of the same sections (the reference the
 * incremental output must equal; also used by the bench).
 */
export function renderFull<S extends readonly AnySection[]>(sections: S, objects: SectionObjects<S>): Buffer {
  const lists = objects as unknown as readonly (readonly object[])[];
  const out: Buffer[] = [];
  sections.forEach((section, s) => {
    const list = lists[s]!;
    const prefixes = list.map((o) => section.labelPrefix(o));
    for (const f of section.families) {
      let text = '';
      list.forEach((o, i) => f.samples(o, prefixes[i]!, (labels, value) => (text += `${labels === '' ? f.name : `${f.name}{${labels}}`} ${formatValue(value)}\n`)));
      if (text) out.push(Buffer.from(header(f) + text));
    }
  });
  return Buffer.concat(out);
}
