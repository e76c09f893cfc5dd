import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ExpositionCache, storedGzipMember } from '../../src/metrics/cache.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import { snapshotOf } from '../fixtures/snapshots.js';

const snapshot: Snapshot = snapshotOf([{ id: '1', name: 'a', status: 'processing', rawStatus: 'Processing', targets: [{ type: 'uuid', target: 'u', name: 'h' }], lastPollOk: true }]);

describe('storedGzipMember', () => {
  it('is a gzip member of the bytes as they are, whatever their size', () => {
    for (const size of [0, 1, 100, 65_535, 65_536, 200_001]) {
      const data = Buffer.alloc(size, 'metric_line 1\n');
      const gz = storedGzipMember(data);
      expect(gunzipSync(gz).equals(data)).toBe(true);
      // Concatenated with a compressed member it still decodes as one stream.
      expect(gunzipSync(Buffer.concat([gz, storedGzipMember(Buffer.from('x'))])).toString()).toBe(data.toString() + 'x');
    }
  });
});

describe('self-metrics in parts', () => {
  it('serve the same bytes as the whole text, in every format', async () => {
    // Process metrics on (two parts), collected once: a frozen clock keeps them from expiring mid-test.
    const self = new SelfMetrics({ version: '1', revision: 'r', now: () => 0 });
    const whole = new ExpositionCache(() => self.render());
    const parts = new ExpositionCache(() => self.renderParts());
    await whole.update(snapshot);
    await parts.update(snapshot);
    const body = async (c: ExpositionCache, openMetrics: boolean, gzip: boolean) => {
      const e = await c.expose({ openMetrics, gzip });
      const raw = Buffer.concat(e.chunks);
      expect(raw.length).toBe(e.length);
      return (gzip ? gunzipSync(raw) : raw).toString();
    };
    for (const openMetrics of [false, true]) {
      // Twice: the second answer reuses the compressed stable part.
      for (let i = 0; i < 2; i++) {
        const a = await body(whole, openMetrics, false);
        for (const gzip of [false, true]) expect(await body(parts, openMetrics, gzip)).toBe(a);
      }
    }
    expect(await body(parts, false, false)).toContain('process_cpu_user_seconds_total');
    expect(await body(parts, true, true)).toMatch(/# EOF\n$/);
  });
});
