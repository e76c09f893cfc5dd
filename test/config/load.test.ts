import { mkdtemp, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import { CHINA_ENDPOINT, INTERNATIONAL_ENDPOINT } from '../../src/sas/endpoints.js';

const FILE = 'exporter.yaml';

function reject(text: string): ConfigError {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('parseConfig', () => {
  it('reads the documented example with defaults and keeps big IDs exact', () => {
    const c = parseConfig(
      `region: cn-shanghai
endpoint: tds.cn-shanghai.aliyuncs.com
protocol: https
schedule: "*/30 * * * * *"
tasks:
  - 282832
  - id: "9007199254740993"
    name: weekly-full-scan
  - 9007199254740995
  - "9223372036854775807"
`,
      FILE,
    );
    expect(c.multiAccount).toBe(false);
    expect(c.accounts).toHaveLength(1);
    const a = c.accounts[0]!;
    expect(a.name).toBe('');
    expect(a.tasks).toEqual([
      { id: '282832', name: '' },
      { id: '9007199254740993', name: 'weekly-full-scan' },
      { id: '9007199254740995', name: '' },
      { id: '9223372036854775807', name: '' },
    ]);
    expect(a.endpoint).toBe('tds.cn-shanghai.aliyuncs.com');
    expect(a.requestTimeoutMs).toBe(10_000);
    expect(a.concurrency).toBe(4);
    expect(a.retry).toEqual({ maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 10_000, maxRetriesPerCycle: 100 });
    expect(a.rateLimit).toEqual({ qps: 5, burst: 5 });
    expect(a.terminalRecheckIntervalMs).toBe(600_000);
  });

  it('picks the endpoint from the region map', () => {
    const endpoint = (text: string) => parseConfig(text, FILE).accounts[0]!.endpoint;
    expect(endpoint('region: cn-hangzhou\ntasks: [1]\n')).toBe(CHINA_ENDPOINT);
    expect(endpoint('region: ap-southeast-1\ntasks: [1]\n')).toBe(INTERNATIONAL_ENDPOINT);
    expect(endpoint('region: eu-central-1\nendpoint: 127.0.0.1:8080\ntasks: [1]\n')).toBe('127.0.0.1:8080');
  });

  it('reads the tuning keys', () => {
    const c = parseConfig(
      `endpoint: localhost:1
protocol: http
request_timeout: 1500ms
concurrency: 16
retry: { max_attempts: 5, initial_backoff: 200ms, max_backoff: 2s, max_retries_per_cycle: 7 }
rate_limit: { qps: 2.5, burst: 3 }
terminal_recheck_interval: 0
tasks: [1]
`,
      FILE,
    );
    const a = c.accounts[0]!;
    expect(a).toMatchObject({ protocol: 'http', requestTimeoutMs: 1500, concurrency: 16, terminalRecheckIntervalMs: 0 });
    expect(a.retry).toEqual({ maxAttempts: 5, initialBackoffMs: 200, maxBackoffMs: 2000, maxRetriesPerCycle: 7 });
    expect(a.rateLimit).toEqual({ qps: 2.5, burst: 3 });
  });

  it('lets flags override the file', () => {
    const c = parseConfig('region: cn-shanghai\ntasks: [1]\n', FILE, { endpoint: '127.0.0.1:9', protocol: 'http', schedule: '*/5 * * * * *' });
    expect(c.schedule).toBe('*/5 * * * * *');
    expect(c.accounts[0]).toMatchObject({ endpoint: '127.0.0.1:9', protocol: 'http' });
  });

  it.each([
    ['a duplicate ID, bare and quoted', 'region: cn-shanghai\ntasks:\n  - 5\n  - "5"\n', 'exporter.yaml:4:5: tasks[1]: duplicate task ID 5 (also tasks[0]) at line 3'],
    ['a duplicate ID with leading zero', 'region: cn-shanghai\ntasks:\n  - id: 7\n  - "007"\n', 'exporter.yaml:4:5: tasks[1]: duplicate task ID 7'],
    ['a zero ID', 'region: cn-shanghai\ntasks: [0]\n', 'exporter.yaml:2:9: tasks[0]: task ID 0 must be positive'],
    ['a negative ID', 'region: cn-shanghai\ntasks:\n  - -3\n', 'exporter.yaml:3:5: tasks[0]: task ID -3 must be positive'],
    ['a non-numeric ID', 'region: cn-shanghai\ntasks:\n  - abc\n', 'tasks[0]: task ID "abc" is not a decimal integer'],
    ['a fractional ID', 'region: cn-shanghai\ntasks:\n  - 1.5\n', 'tasks[0]: task ID 1.5 is not an integer'],
    ['a too large ID', 'region: cn-shanghai\ntasks:\n  - 9223372036854775808\n', 'exporter.yaml:3:5: tasks[0]: task ID 9223372036854775808 is larger than 2^63-1'],
    ['an object without id', 'region: cn-shanghai\ntasks:\n  - name: x\n', 'tasks[0]: a task entry needs an id'],
    ['a misspelt task key', 'region: cn-shanghai\ntasks:\n  - id: 5\n    nmae: x\n', 'exporter.yaml:4:5: tasks[0].nmae: unknown key "nmae"'],
    ['an unknown top-level key', 'region: cn-shanghai\nschedul: "* * * * *"\ntasks: [1]\n', 'exporter.yaml:2:1: schedul: unknown key "schedul"'],
    ['a bad cron expression', 'region: cn-shanghai\nschedule: "61 * * * *"\ntasks: [1]\n', 'exporter.yaml:2:11: schedule: "61 * * * *" is not a valid cron expression'],
    ['a cron expression with too few fields', 'region: cn-shanghai\nschedule: "* * *"\ntasks: [1]\n', 'schedule: "* * *" is not a valid cron expression'],
    ['a cron expression whose day never comes', 'region: cn-shanghai\nschedule: "0 0 31W 2 *"\ntasks: [1]\n', 'exporter.yaml:2:11: schedule: "0 0 31W 2 *" cannot be scheduled'],
    ['the 30th of February', 'region: cn-shanghai\nschedule: "0 0 30 2 *"\ntasks: [1]\n', 'schedule: "0 0 30 2 *" is not a valid cron expression'],
    ['no region and no endpoint', 'tasks: [1]\n', 'region: set region (e.g. cn-shanghai) or endpoint'],
    ['no tasks', 'region: cn-shanghai\n', 'tasks: is required'],
    ['an empty task list', 'region: cn-shanghai\ntasks: []\n', 'tasks: must list at least one task'],
    ['a YAML syntax error', 'region: cn-shanghai\ntasks: [1\n', 'exporter.yaml:3:1: YAML syntax'],
    ['a duplicate key', 'region: cn-shanghai\nregion: cn-hangzhou\ntasks: [1]\n', 'exporter.yaml:2:1: YAML syntax: Map keys must be unique'],
    ['an empty file', '', 'exporter.yaml: the file is empty'],
    ['a list at top level', '- 1\n- 2\n', 'the top level must be a mapping'],
    ['a bad duration', 'region: cn-shanghai\nrequest_timeout: fast\ntasks: [1]\n', 'exporter.yaml:2:18: request_timeout: "fast" is not a duration'],
    ['a zero concurrency', 'region: cn-shanghai\nconcurrency: 0\ntasks: [1]\n', 'concurrency: must be >= 1'],
    ['a bad protocol', 'region: cn-shanghai\nprotocol: ftp\ntasks: [1]\n', 'protocol: invalid value "ftp"; expected one of: https, http'],
    ['an endpoint with a scheme', 'endpoint: https://tds.aliyuncs.com\ntasks: [1]\n', 'endpoint: must be host or host:port'],
    ['initial backoff above max', 'region: cn-shanghai\nretry: { initial_backoff: 5s, max_backoff: 1s }\ntasks: [1]\n', 'retry.initial_backoff: must not exceed retry.max_backoff'],
    ['a credential in plain text', 'region: cn-shanghai\naccess_key_secret: x\ntasks: [1]\n', 'access_key_secret: unknown key'],
  ])('rejects %s, naming file, line and field', (_name, text, expected) => {
    expect(reject(text).message).toContain(expected);
  });

  it('reports every problem at once', () => {
    const e = reject('region: cn-shanghai\ntasks: [0, abc, 3, 3]\n');
    expect(e.issues.map((p) => p.field)).toEqual(['tasks[0]', 'tasks[1]', 'tasks[3]']);
  });
});

describe('loadConfig', () => {
  it('names the file when it is missing, unreadable or a directory', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sas-cfg-'));
    await expect(loadConfig(path.join(dir, 'nope.yaml'))).rejects.toThrow(/nope\.yaml: cannot read the configuration file: no such file/);
    await expect(loadConfig(dir)).rejects.toThrow(/cannot read the configuration file: is a directory/);
    if (process.getuid?.() !== 0) {
      const f = path.join(dir, 'locked.yaml');
      await writeFile(f, 'tasks: [1]\n');
      await chmod(f, 0);
      await expect(loadConfig(f)).rejects.toThrow(/permission denied/);
    }
  });

  it('resolves the simulator scenario next to the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sas-cfg-'));
    const f = path.join(dir, 'x.yaml');
    await writeFile(f, 'simulator: { scenario: demo.yaml }\ntasks: [1]\n');
    const c = await loadConfig(f);
    expect(c.simulator?.scenario).toBe(path.join(dir, 'demo.yaml'));
  });
});
