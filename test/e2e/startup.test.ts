/**
 * Start and stop of the daemon as a process: refusals at start (exit code
 * and a message naming the file and the line or field), no credentials,
 * --help/--version, and SIGTERM/SIGINT while a call hangs.
 * (Reloads are tested in reload.test.ts.)
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { ROOT, runToExit, tempDir, writeConfig } from '../support/exporter.js';
import { demoEnv, emptyEnv, loadFixture, Rig } from '../support/rig.js';
import { exporterYaml } from '../support/yaml.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir('sas-e2e-startup-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = 'endpoint: "127.0.0.1:9"\nprotocol: http\n';

interface BadConfig {
  name: string;
  /** File content; undefined: the file does not exist. */
  yaml: string | undefined;
  /** What the message must say after the file name (the line:column part, then field and reason). */
  expect: RegExp;
}

const BAD: BadConfig[] = [
  { name: 'duplicate task ID (5 and "5")', yaml: `${HEAD}tasks:\n  - 5\n  - "5"\n`, expect: /:5:\d+: tasks\[1\]: duplicate task ID 5 \(also tasks\[0\]\) at line 4/ },
  { name: 'unknown key', yaml: `${HEAD}schedul: "*/5 * * * * *"\ntasks: [1]\n`, expect: /:3:1: schedul: unknown key "schedul"/ },
  { name: 'bad cron expression', yaml: `${HEAD}schedule: "*/5 * *"\ntasks: [1]\n`, expect: /:3:\d+: schedule: "\*\/5 \* \*" is not a valid cron expression/ },
  { name: 'cron expression whose day never comes', yaml: `${HEAD}schedule: "0 0 31W 2 *"\ntasks: [1]\n`, expect: /:3:\d+: schedule: "0 0 31W 2 \*" cannot be scheduled/ },
  { name: 'missing file', yaml: undefined, expect: /: cannot read the configuration file: no such file/ },
  { name: 'empty file', yaml: '', expect: /: the file is empty/ },
  { name: 'neither region nor endpoint', yaml: 'protocol: http\ntasks: [1]\n', expect: /:1:1: region: set region \(e\.g\. cn-shanghai\) or endpoint/ },
  { name: 'task ID above 2^63-1', yaml: `${HEAD}tasks:\n  - 1\n  - 9223372036854775808\n`, expect: /:5:\d+: tasks\[1\]: .*(2\^63|9223372036854775807)/ },
];

// One after another: seven node start-ups at once only fight over the CPU.
describe('bad configuration: exit 1 at start, naming the file and the line or field', () => {
  test.each(BAD)('$name', async ({ name, yaml, expect: message }) => {
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    if (yaml !== undefined) await writeConfig(dir, yaml, path.basename(file));
    const r = await runToExit([`--config.file=${file}`], demoEnv());
    expect(r.code, r.output).toBe(1);
    // file:line:column: field: reason (or file: reason when the whole file is at fault)
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(r.output).toMatch(new RegExp(escaped + message.source));
    expect(r.output).toContain('invalid configuration');
    // It never got as far as serving.
    expect(r.output).not.toContain('msg=listening');
  });
});

describe('no credentials at all', () => {
  let sim: SimulatorHandle;
  beforeAll(async () => {
    sim = await startSimulator({ scenario: await loadFixture('credentials'), host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  test('empty environment, empty HOME, no ECS metadata: a clear start-up error, exit 1, no poll', async () => {
    const home = await tempDir('sas-e2e-home-');
    const file = await writeConfig(dir, exporterYaml({ endpoint: sim.endpoint, tasks: ['4001'] }), 'nocreds.yaml');
    const r = await runToExit([`--config.file=${file}`], emptyEnv({ HOME: home, ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true' }));
    await rm(home, { recursive: true, force: true });
    expect(r.code, r.output).toBe(1);
    expect(r.output).toContain('no Alibaba Cloud credentials found');
    expect(r.output).toContain('ALIBABA_CLOUD_ACCESS_KEY_ID');
    expect(r.output).not.toContain('msg=listening');
    expect(sim.counts().total).toBe(0);
  });
});

describe.concurrent('--help and --version', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await runToExit(['--help']);
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/^usage: aliyun-sas-exporter/);
    expect(r.output).toContain('--config.file');
  });

  test('--version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runToExit(['--version']);
    expect(r.code).toBe(0);
    expect(r.output.trim()).toMatch(new RegExp(`^aliyun-sas-exporter ${version.replace(/\./g, '\\.')} \\(node v\\d+`));
  });

  test('an unknown flag exits 2 with the usage', async () => {
    const r = await runToExit(['--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.output).toContain('usage: aliyun-sas-exporter');
  });
});

describe.concurrent('shutdown', () => {
  // A call hangs in flight (fault `hang`, request_timeout far away) and
  // the first cycle never finished: the worst moment to be told to stop.
  test.each(['SIGTERM', 'SIGINT'] as const)('%s exits 0 within 10 s, with a call hanging', async (signal) => {
    const rig = await Rig.start({
      scenario: await loadFixture('faults'),
      waitFor: 'healthy',
      config: (endpoint) => exporterYaml({ endpoint, tasks: ['2005', '2030'], requestTimeout: '60s' }),
    });
    try {
      await rig.until(() => (rig.sim.counts().byTask['2005']?.total ?? 0) >= 1, 'the hanging call in flight');
      expect((await fetch(`${rig.exporter.base}/-/ready`)).status).toBe(503);
      const started = Date.now();
      rig.exporter.child.kill(signal);
      const code = await rig.exporter.exited;
      const ms = Date.now() - started;
      console.log(`${signal}: exited ${code} after ${ms} ms`);
      expect(code, rig.exporter.output).toBe(0);
      expect(ms).toBeLessThan(10_000);
      expect(rig.exporter.output).toMatch(new RegExp(`msg="shutting down" signal=${signal}`));
    } finally {
      await rig.close();
    }
  });

  test('SIGTERM when idle between cycles exits 0 too, after logging stopped', async () => {
    const rig = await Rig.start({ scenario: await loadFixture('credentials'), config: (endpoint) => exporterYaml({ endpoint, tasks: ['4001'] }) });
    try {
      const started = Date.now();
      rig.exporter.child.kill('SIGTERM');
      const code = await rig.exporter.exited;
      expect(code, rig.exporter.output).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(rig.exporter.output).toContain('msg=stopped');
    } finally {
      await rig.close();
    }
  });
});
