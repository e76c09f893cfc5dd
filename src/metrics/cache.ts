/**
 * The ready-to-serve exposition. Task families are rendered and gzipped once
 * per snapshot; a scrape only renders the small self-metrics and sends the
 * cached bytes after them. Gzip members may be concatenated (RFC 1952), so
 * the gzipped answer is gzip(self) followed by the cached gzip(tasks).
 */
import zlib from 'node:zlib';
import type { Snapshot } from '../model/snapshot.js';
import type { SelfParts } from './self.js';
import { OPENMETRICS_CONTENT_TYPE, OPENMETRICS_EOF, TEXT_CONTENT_TYPE, textToOpenMetrics, type Negotiated } from './exposition.js';
import type { LabelLimits } from './labels.js';
import { renderTaskFamilyChunks } from './render.js';

const GZIP_EOF = zlib.gzipSync(OPENMETRICS_EOF);

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

interface Rendered {
  readonly generation: number;
  /** The task families in ~1 MB chunks, as rendered. */
  readonly plain: readonly Buffer[];
  /** One gzip member of all of them. */
  readonly gzip: Buffer;
}

/** One gzip member of `chunks`, compressed in the thread pool. */
function gzipChunks(chunks: readonly Buffer[], level: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const z = zlib.createGzip({ level, chunkSize: 256 * 1024 });
    const out: Buffer[] = [];
    z.on('data', (d: Buffer) => out.push(d));
    z.on('end', () => resolve(out.length === 1 ? out[0]! : Buffer.concat(out)));
    z.on('error', reject);
    for (const c of chunks) z.write(c);
    z.end();
  });
}

export interface Exposition {
  readonly contentType: string;
  readonly contentEncoding?: 'gzip';
  readonly chunks: readonly Buffer[];
  readonly length: number;
}

export class ExpositionCache {
  private rendered: Rendered = { generation: -1, plain: [], gzip: zlib.gzipSync(Buffer.alloc(0)) };
  private inFlight: Promise<void> | undefined;
  private latest: Snapshot | undefined;
  private readonly listeners: ((generation: number, ms: number, snapshot: Snapshot) => void)[] = [];

  /** The last stable self-metrics part and its forms, by format: reused while the text is unchanged. */
  private readonly stableMemo = new Map<boolean, { source: string; plain: Buffer; gzip: Buffer }>();

  /**
   * `renderSelf` gives the self-metrics text, whole (compressed at every
   * scrape) or as SelfParts (the volatile part is sent in a stored gzip
   * member, the stable part compressed once while it stays the same).
   */
  constructor(
    private readonly renderSelf: () => Promise<string | SelfParts>,
    /** Bounds on API-provided label values, kept across renders (the self-metrics' ones, which count). */
    private readonly labels?: LabelLimits,
  ) {}

  get generation(): number {
    return this.rendered.generation;
  }

  /** Called with each new snapshot. Renders are serialised; a burst of snapshots renders only the newest. */
  update(snapshot: Snapshot): Promise<void> {
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
  onRendered(listener: (generation: number, ms: number, snapshot: Snapshot) => void): void {
    this.listeners.push(listener);
  }

  private async drain(): Promise<void> {
    while (this.latest && this.latest.generation !== this.rendered.generation) {
      const snap = this.latest;
      const t0 = performance.now();
      const plain = await renderTaskFamilyChunks(snap, this.labels ? { labels: this.labels } : {});
      const gz = await gzipChunks(plain, 6);
      this.rendered = { generation: snap.generation, plain, gzip: gz };
      for (const l of this.listeners) l(snap.generation, performance.now() - t0, snap);
    }
  }

  /** The whole answer for one scrape. */
  async expose(n: Negotiated): Promise<Exposition> {
    const r = this.rendered; // one consistent snapshot for the whole answer
    const self = await this.renderSelf();
    const contentType = n.openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
    const chunks: Buffer[] = [];
    if (typeof self === 'string') {
      const selfBuf = Buffer.from(n.openMetrics ? textToOpenMetrics(self) : self);
      // A few KB: compressing them here is cheaper than a round trip to the thread pool.
      chunks.push(n.gzip ? zlib.gzipSync(selfBuf, { level: 1 }) : selfBuf);
    } else {
      // The same bytes as render(): volatile + "\n" + stable (OpenMetrics drops the blank line anyway).
      const volatile = n.openMetrics ? textToOpenMetrics(self.volatile) : self.stable === undefined ? self.volatile : `${self.volatile}\n`;
      const v = Buffer.from(volatile);
      chunks.push(n.gzip ? storedGzipMember(v) : v);
      if (self.stable !== undefined) {
        const s = this.stablePart(self.stable, n.openMetrics);
        chunks.push(n.gzip ? s.gzip : s.plain);
      }
    }
    if (n.gzip) chunks.push(r.gzip);
    else for (const c of r.plain) chunks.push(c);
    if (n.openMetrics) chunks.push(n.gzip ? GZIP_EOF : Buffer.from(OPENMETRICS_EOF));
    let length = 0;
    for (const c of chunks) length += c.length;
    return n.gzip ? { contentType, contentEncoding: 'gzip', chunks, length } : { contentType, chunks, length };
  }

  private stablePart(source: string, openMetrics: boolean): { plain: Buffer; gzip: Buffer } {
    const memo = this.stableMemo.get(openMetrics);
    if (memo && memo.source === source) return memo;
    const plain = Buffer.from(openMetrics ? textToOpenMetrics(source) : source);
    const entry = { source, plain, gzip: zlib.gzipSync(plain, { level: 6 }) };
    this.stableMemo.set(openMetrics, entry);
    return entry;
  }
}
