/**
 * Signals and shutdown of the built exporter: signals that arrive while it
 * is still starting, and a SIGTERM while a slow scraper is still reading a
 * large answer.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { ExporterProcess, tempDir, writeConfig } from '../support/exporter.js';
import { sleep } from '../support/net.js';
import { credentialEnv, demoEnv, loadFixture, Rig, simTask } from '../support/rig.js';
import { exporterYaml, NEVER } from '../support/yaml.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

/** A credentials URI that never answers: the default chain, and so start-up, waits on it. */
async function silentCredentialsUri(): Promise<{ url: string; server: Server }> {
  const server = createServer(() => {
    /* never answers */
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise((r) => server.close(r)).then(() => server.closeAllConnections()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/credentials`, server };
}

/**
 * How long a bare Node.js takes here from spawn to running its first
 * statement (median of three): no program can catch a signal sooner. On a
 * quiet machine about 40-60 ms; under load several times that.
 */
async function nodeBootMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const out = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(Date.now()))'], { encoding: 'utf8' });
    times.push(Number(out) - t0);
  }
  return times.sort((a, b) => a - b)[1]!;
}

describe('signals during start-up', () => {
  test('a SIGHUP 100 ms after spawn does not kill the exporter: it reloads once started', async () => {
    // 100 ms, or later on a machine so loaded that Node itself has not started by then.
    const delay = Math.max(100, Math.round((await nodeBootMs()) * 2.5) + 50);
    if (delay > 100) console.log(`SIGHUP sent ${delay} ms after spawn: this machine needs that long to start Node.js at all`);
    const scenario = await loadFixture('timeline');
    const rig = await Rig.start({ scenario, config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['1001'] }), waitFor: 'none' });
    cleanups.push(() => rig.close());
    await sleep(delay);
    rig.sighup();
    await rig.exporter.waitUntil('/-/ready');
    expect(rig.exporter.exitCode).toBeNull();
    await rig.untilLogged('msg="configuration reloaded" trigger=SIGHUP');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} while start-up waits on the credential chain exits 0 at once`, async () => {
      const uri = await silentCredentialsUri();
      const dir = await tempDir('sas-startup-signal-');
      const file = await writeConfig(dir, exporterYaml({ endpoint: '127.0.0.1:9', schedule: NEVER, tasks: ['1'] }));
      const p = await ExporterProcess.start({ args: [`--config.file=${file}`], env: credentialEnv({ ALIBABA_CLOUD_CREDENTIALS_URI: uri.url }), waitFor: 'none' });
      cleanups.push(() => p.stop('SIGKILL'));
      // Start-up is under way (it logged), waiting on the URI that never answers.
      const deadline = Date.now() + 10_000;
      while (!p.output.includes('starting aliyun-sas-exporter') && Date.now() < deadline) await sleep(20);
      await sleep(200);
      const t0 = Date.now();
      p.child.kill(signal);
      const code = await p.exited;
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(p.output).toMatch(new RegExp(`msg="shutting down during start-up" signal=${signal}`));
    });
  }
});

describe('shutdown', () => {
  test('SIGTERM lets a slow scraper receive the whole answer before the exporter exits 0', { timeout: 90_000 }, async () => {
    // About 12 MB of series: more than the loopback socket buffers hold, so the exporter's writes back up.
    const ids = Array.from({ length: 300 }, (_, i) => String(9001 + i));
    const rig = await Rig.start({
      scenario: { tasks: ids.map((id) => simTask(id, 'Processing', 250)) },
      config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ids, concurrency: 16 }),
      env: demoEnv(),
    });
    cleanups.push(() => rig.close());
    await rig.until((s) => s.filter((x) => x.name === 'aliyun_sas_scan_task_poll_success').length === ids.length, 'every task polled', 60_000);

    const sock = net.connect(rig.exporter.port, '127.0.0.1');
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    const chunks: Buffer[] = [];
    let received = 0;
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
    });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    // A scraper that asks and then stops reading.
    sock.write('GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n');
    sock.pause();
    await sleep(500);
    rig.exporter.child.kill('SIGTERM');
    await sleep(1000);
    const readBeforeResume = received;
    sock.resume();
    await closed;
    const text = Buffer.concat(chunks).toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    const length = Number(/content-length: (\d+)/i.exec(text.slice(0, headEnd))?.[1]);
    expect(length).toBeGreaterThan(8_000_000);
    // The exporter was still holding part of the answer when SIGTERM came...
    expect(readBeforeResume).toBeLessThan(headEnd + 4 + length);
    // ...and delivered all of it before closing.
    expect(text.length - (headEnd + 4)).toBe(length);
    expect(await rig.exporter.exited).toBe(0);
  });
});
