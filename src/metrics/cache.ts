/**
 * The ready-to-serve exposition. Each snapshot is published through the
 * incremental engine (incremental.ts): only the objects that changed are
 * rendered and compressed again. A scrape sends the self-metrics, then the
 * published chunks as they are. Gzip members may be concatenated (RFC 1952),
 * so the gzipped answer is gzip(self) followed by the published members.
 */
import zlib from 'node:zlib';
import type { Snapshot } from '../model/snapshot.js';
import type { SelfParts } from './self.js';
import { OPENMETRICS_CONTENT_TYPE, OPENMETRICS_EOF, TEXT_CONTENT_TYPE, textToOpenMetrics, type Negotiated } from './exposition.js';
import { IncrementalExposition, type AnySection, type IncrementalOptions, type Publication } from './incremental.js';
import { snapshotLayout, type ExpositionLayout } from './layout.js';

const GZIP_EOF = zlib.gzipSync(OPENMETRICS_EOF);
const PLAIN_EOF = Buffer.from(OPENMETRICS_EOF);
/** An answer must be a gzip stream even when there is nothing to send. */
const GZIP_EMPTY = zlib.gzipSync(Buffer.alloc(0));

/**
 * A gzip member (RFC 1952) of deflate stored blocks (RFC 1951, BTYPE 00):
 * the bytes as they are, framed, with their CRC-32. ~3 us for a few KB,
 * where zlib.gzipSync costs ~40-80 us of set-up per call: used for the part
 * of the self-metrics that changes at every scrape, a few KB next to
 * megabytes of compressed task series.
 */
export function storedGzipMember(data: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / 65_535));
  const out = Buffer.allocUnsafe(10 + blocks * 5 + data.length + 8);
  // ID1 ID2, CM=8 (deflate), FLG=0, MTIME=0, XFL=0, OS=255 (unknown)
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff], 0);
  let o = 10;
  for (let b = 0; b < blocks; b++) {
    const from = b * 65_535;
    const len = Math.min(65_535, data.length - from);
    out[o] = b === blocks - 1 ? 1 : 0; // BFINAL on the last block, BTYPE=00; byte-aligned
    out.writeUInt16LE(len, o + 1);
    out.writeUInt16LE(~len & 0xffff, o + 3);
    o += 5;
    data.copy(out, o, from, from + len);
    o += len;
  }
  out.writeUInt32LE(zlib.crc32(data) >>> 0, o);
  out.writeUInt32LE(data.length >>> 0, o + 4);
  return out;
}

export interface Exposition {
  readonly contentType: string;
  readonly contentEncoding?: 'gzip';
  readonly chunks: readonly Buffer[];
  readonly length: number;
}

export interface SnapshotLike {
  /** Increases with every published snapshot. */
  readonly generation: number;
}

export type { ExpositionLayout };

export interface ExpositionCacheOptions<Snap> {
  /** Default: the exporter's snapshots (layout.ts). */
  readonly layout?: ExpositionLayout<Snap>;
  readonly engine?: IncrementalOptions;
}

interface Rendered {
  readonly generation: number;
  readonly publication: Publication;
}

interface Encoded {
  readonly source: string;
  readonly plain: Buffer;
  readonly gzip: Buffer;
}

export class ExpositionCache<Snap extends SnapshotLike = Snapshot> {
  private readonly engine: IncrementalExposition<readonly AnySection[]>;
  private readonly layout: ExpositionLayout<Snap>;
  private rendered: Rendered;
  private inFlight: Promise<void> | undefined;
  private latest: Snap | undefined;
  private readonly listeners: ((generation: number, ms: number, snapshot: Snap) => void)[] = [];

  /** The stable self-metrics parts and their forms, by format and position: reused while a text is unchanged. */
  private readonly stableMemo: Map<number, Encoded>[] = [new Map(), new Map()];
  /** The same, joined, by format: for the very same array of parts. */
  private readonly joinedMemo: ({ readonly parts: readonly string[]; readonly plain: Buffer; readonly gzip: Buffer } | undefined)[] = [undefined, undefined];

  /**
   * `renderSelf` gives the self-metrics text, whole (compressed at every
   * scrape) or as SelfParts (the volatile part is sent in a stored gzip
   * member, each stable part compressed once while it stays the same).
   */
  constructor(
    private readonly renderSelf: () => string | SelfParts | Promise<string | SelfParts>,
    options: ExpositionCacheOptions<Snap> = {},
  ) {
    this.layout = options.layout ?? (snapshotLayout() as unknown as ExpositionLayout<Snap>);
    this.engine = new IncrementalExposition(this.layout.sections, options.engine);
    this.rendered = { generation: -1, publication: this.engine.current };
  }

  get generation(): number {
    return this.rendered.generation;
  }

  /** Called with each new snapshot. Renders are serialised; a burst of snapshots renders only the newest. */
  update(snapshot: Snap): Promise<void> {
    this.latest = snapshot;
    if (!this.inFlight) {
      this.inFlight = this.drain().finally(() => (this.inFlight = undefined));
    }
    return this.inFlight;
  }

  /**
   * Called as a snapshot becomes the one served, in the same tick: a
   * self-metric set here (the task count) is rendered with the very task
   * series it describes, by every scrape from then on.
   */
  onRendered(listener: (generation: number, ms: number, snapshot: Snap) => void): void {
    this.listeners.push(listener);
  }

  /** Stops the compression worker (an update later starts it again). */
  close(): Promise<void> {
    return this.engine.close();
  }

  private async drain(): Promise<void> {
    while (this.latest && this.latest.generation !== this.rendered.generation) {
      const snap = this.latest;
      const publication = await this.engine.update(this.layout.objects(snap));
      this.rendered = { generation: snap.generation, publication };
      for (const l of this.listeners) l(snap.generation, publication.stats.ms, snap);
    }
  }

  /** The whole answer for one scrape: at once when the self-metrics are at hand (the common case). */
  expose(n: Negotiated): Exposition | Promise<Exposition> {
    const r = this.rendered.publication; // one consistent publication for the whole answer
    const self = this.renderSelf();
    return self instanceof Promise ? self.then((s) => this.answer(n, r, s)) : this.answer(n, r, self);
  }

  private answer(n: Negotiated, r: Publication, self: string | SelfParts): Exposition {
    const contentType = n.openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
    const chunks: Buffer[] = [];
    if (typeof self === 'string') {
      const selfBuf = Buffer.from(n.openMetrics ? textToOpenMetrics(self) : self);
      // A few KB: compressing them here is cheaper than a round trip to the thread pool.
      chunks.push(n.gzip ? zlib.gzipSync(selfBuf, { level: 1 }) : selfBuf);
    } else {
      // The same bytes as SelfMetrics.render(): the parts joined by blank lines (OpenMetrics drops them).
      // The volatile part is a few hundred bytes (a pool slice, no allocation of its own); the stable
      // ones are one buffer kept from scrape to scrape.
      const v = Buffer.from(n.openMetrics ? textToOpenMetrics(self.volatile) : self.volatile);
      const stable = this.stableParts(self.stable ?? [], n.openMetrics);
      chunks.push(n.gzip ? storedGzipMember(v) : v);
      if (stable.plain.length > 0) chunks.push(n.gzip ? stable.gzip : stable.plain);
    }
    const body = n.gzip ? r.gzip : r.plain;
    for (const c of body) chunks.push(c);
    if (n.openMetrics) chunks.push(n.gzip ? GZIP_EOF : PLAIN_EOF);
    let length = 0;
    for (const c of chunks) length += c.length;
    if (n.gzip && length === 0) {
      chunks.push(GZIP_EMPTY);
      length = GZIP_EMPTY.length;
    }
    return n.gzip ? { contentType, contentEncoding: 'gzip', chunks, length } : { contentType, chunks, length };
  }

  /**
   * The stable parts, encoded and joined. SelfMetrics hands over the very
   * same array while no part changed: then this is a lookup; otherwise only
   * the parts that changed are encoded again.
   */
  private stableParts(parts: readonly string[], openMetrics: boolean): { readonly plain: Buffer; readonly gzip: Buffer } {
    const f = openMetrics ? 1 : 0;
    const memo = this.joinedMemo[f];
    if (memo && memo.parts === parts) return memo;
    const encoded = parts.map((p, i) => this.stablePart(i, p, openMetrics));
    const joined = { parts, plain: Buffer.concat(encoded.map((e) => e.plain)), gzip: Buffer.concat(encoded.map((e) => e.gzip)) };
    this.joinedMemo[f] = joined;
    return joined;
  }

  private stablePart(index: number, source: string, openMetrics: boolean): Encoded {
    const memos = this.stableMemo[openMetrics ? 1 : 0]!;
    const memo = memos.get(index);
    // The same string object while unchanged: compared by reference first.
    if (memo && memo.source === source) return memo;
    const plain = Buffer.from(openMetrics ? textToOpenMetrics(source) : `\n${source}`);
    const entry = { source, plain, gzip: zlib.gzipSync(plain, { level: 6 }) };
    memos.set(index, entry);
    return entry;
  }
}
