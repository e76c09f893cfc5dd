/**
 * The ready-to-serve exposition. Task families are rendered and gzipped once
 * per snapshot; a scrape only renders the small self-metrics and sends the
 * cached bytes after them. Gzip members may be concatenated (RFC 1952), so
 * the gzipped answer is gzip(self) followed by the cached gzip(tasks).
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Snapshot } from '../poller/state.js';
import { OPENMETRICS_CONTENT_TYPE, OPENMETRICS_EOF, TEXT_CONTENT_TYPE, textToOpenMetrics, type Negotiated } from './exposition.js';
import { renderTaskFamilies } from './render.js';

const gzip = promisify(zlib.gzip);
const GZIP_EOF = zlib.gzipSync(OPENMETRICS_EOF);

interface Rendered {
  readonly generation: number;
  readonly plain: Buffer;
  readonly gzip: Buffer;
}

export interface Exposition {
  readonly contentType: string;
  readonly contentEncoding?: 'gzip';
  readonly chunks: readonly Buffer[];
  readonly length: number;
}

export class ExpositionCache {
  private rendered: Rendered = { generation: -1, plain: Buffer.alloc(0), gzip: zlib.gzipSync(Buffer.alloc(0)) };
  private inFlight: Promise<void> | undefined;
  private latest: Snapshot | undefined;
  private readonly listeners: ((generation: number, ms: number) => void)[] = [];

  constructor(private readonly renderSelf: () => Promise<string>) {}

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

  onRendered(listener: (generation: number, ms: number) => void): void {
    this.listeners.push(listener);
  }

  private async drain(): Promise<void> {
    while (this.latest && this.latest.generation !== this.rendered.generation) {
      const snap = this.latest;
      const t0 = performance.now();
      const plain = await renderTaskFamilies(snap);
      const gz = await gzip(plain, { level: 6 });
      this.rendered = { generation: snap.generation, plain, gzip: gz };
      for (const l of this.listeners) l(snap.generation, performance.now() - t0);
    }
  }

  /** The whole answer for one scrape. */
  async expose(n: Negotiated): Promise<Exposition> {
    const r = this.rendered; // one consistent snapshot for the whole answer
    let self = await this.renderSelf();
    if (n.openMetrics) self = textToOpenMetrics(self);
    const selfBuf = Buffer.from(self);
    const contentType = n.openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
    const chunks: Buffer[] = n.gzip ? [await gzip(selfBuf, { level: 1 }), r.gzip] : [selfBuf, r.plain];
    if (n.openMetrics) chunks.push(n.gzip ? GZIP_EOF : Buffer.from(OPENMETRICS_EOF));
    let length = 0;
    for (const c of chunks) length += c.length;
    return n.gzip ? { contentType, contentEncoding: 'gzip', chunks, length } : { contentType, chunks, length };
  }
}
