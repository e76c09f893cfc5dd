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
    ['a negative ID', 'region: cn-shanghai\ntasks:\n  - -3\n', 'exporter.yaml:3:5: tasks[0]: task ID "-3" must be positive'],
    ['a non-numeric ID', 'region: cn-shanghai\ntasks:\n  - abc\n', 'tasks[0]: task ID "abc" is not a decimal integer'],
    ['a fractional ID', 'region: cn-shanghai\ntasks:\n  - 1.5\n', 'tasks[0]: task ID "1.5" is not a decimal integer'],
    ['a bare hexadecimal ID', 'region: cn-shanghai\ntasks:\n  - 0x10\n', 'exporter.yaml:3:5: tasks[0]: task ID "0x10" is not a decimal integer'],
    ['a quoted hexadecimal ID', 'region: cn-shanghai\ntasks:\n  - "0x10"\n', 'exporter.yaml:3:5: tasks[0]: task ID "0x10" is not a decimal integer'],
    ['a bare octal ID', 'region: cn-shanghai\ntasks:\n  - 0o20\n', 'tasks[0]: task ID "0o20" is not a decimal integer'],
    ['a bare exponent ID', 'region: cn-shanghai\ntasks:\n  - 1e3\n', 'tasks[0]: task ID "1e3" is not a decimal integer'],
    ['a quoted exponent ID', 'region: cn-shanghai\ntasks:\n  - "1e3"\n', 'tasks[0]: task ID "1e3" is not a decimal integer'],
    ['a bare 1.0', 'region: cn-shanghai\ntasks:\n  - 1.0\n', 'tasks[0]: task ID "1.0" is not a decimal integer'],
    ['a signed ID', 'region: cn-shanghai\ntasks:\n  - +5\n', 'tasks[0]: task ID "+5" is not a decimal integer'],
    ['a hexadecimal id in a mapping', 'region: cn-shanghai\ntasks:\n  - { id: 0x10, name: x }\n', 'exporter.yaml:3:11: tasks[0].id: task ID "0x10" is not a decimal integer'],
    ['a hexadecimal ID through an alias', 'region: cn-shanghai\nx: &h 0x10\ntasks:\n  - *h\n', 'task ID "0x10" is not a decimal integer'],
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
    ['an endpoint with a scheme', 'endpoint: https://tds.aliyuncs.com\ntasks: [1]\n', 'endpoint: "https://tds.aliyuncs.com" is not host or host:port: write it without a scheme'],
    ['an endpoint port above 65535', 'endpoint: "127.0.0.1:99999"\ntasks: [1]\n', 'exporter.yaml:1:11: endpoint: "127.0.0.1:99999" is not host or host:port: port 99999 is out of range (1 to 65535)'],
    ['an endpoint port 0', 'endpoint: "tds.aliyuncs.com:0"\ntasks: [1]\n', 'port 0 is out of range'],
    ['an endpoint without a host', 'endpoint: ":443"\ntasks: [1]\n', 'the host is missing'],
    ['an endpoint with an empty port', 'endpoint: "tds.aliyuncs.com:"\ntasks: [1]\n', 'the port must be a number'],
    ['a host starting with "-"', 'endpoint: "-tds.aliyuncs.com"\ntasks: [1]\n', 'cannot start or end with "-"'],
    ['a host label ending with "-"', 'endpoint: "tds-.aliyuncs.com"\ntasks: [1]\n', 'cannot start or end with "-"'],
    ['an empty host label', 'endpoint: "tds..aliyuncs.com"\ntasks: [1]\n', 'each dot-separated part'],
    ['a host with an underscore', 'endpoint: "tds_x.aliyuncs.com"\ntasks: [1]\n', 'each dot-separated part'],
    ['a bad IPv4 address', 'endpoint: "300.1.1.1:80"\ntasks: [1]\n', 'not a valid IPv4 address'],
    ['an IPv6 address without brackets', 'endpoint: "::1:80"\ntasks: [1]\n', 'an IPv6 address goes in brackets'],
    ['a bad IPv6 address', 'endpoint: "[::g]:80"\ntasks: [1]\n', 'not an IPv6 address'],
    ['an endpoint with a path', 'endpoint: "tds.aliyuncs.com/x"\ntasks: [1]\n', 'without a path'],
    ['an endpoint label of 64 characters', `endpoint: "${'a'.repeat(64)}.com"\ntasks: [1]\n`, 'each dot-separated part'],
    ['initial backoff above max', 'region: cn-shanghai\nretry: { initial_backoff: 5s, max_backoff: 1s }\ntasks: [1]\n', 'retry.initial_backoff: must not exceed retry.max_backoff'],
    ['a credential in plain text', 'region: cn-shanghai\naccess_key_secret: x\ntasks: [1]\n', 'access_key_secret: unknown key'],
  ])('rejects %s, naming file, line and field', (_name, text, expected) => {
    expect(reject(text).message).toContain(expected);
  });

  it.each(['tds.cn-shanghai.aliyuncs.com', 'tds.aliyuncs.com:443', '127.0.0.1:8080', 'localhost', 'LOCALHOST:1', '[::1]:65535', '[2001:db8::1]', 'a-b.c-d.example.', `${'a'.repeat(63)}.com`])('accepts the endpoint %s', (endpoint) => {
    expect(parseConfig(`endpoint: "${endpoint}"\ntasks: [1]\n`, FILE).accounts[0]!.endpoint).toBe(endpoint);
  });

  it('accepts one spelling of an ID, bare or quoted: digits, leading zeros allowed', () => {
    const c = parseConfig('region: cn-shanghai\ntasks:\n  - 5\n  - "06"\n  - 007\n  - { id: "0008", name: x }\n', FILE);
    expect(c.accounts[0]!.tasks.map((t) => t.id)).toEqual(['5', '6', '7', '8']);
  });

  it('the same spelling rule inside accounts, and endpoints checked there too', () => {
    const text = 'accounts:\n  - name: prod\n    region: cn-shanghai\n    credentials: { profile: p }\n    tasks: [0x10, { id: 1e3 }, "7"]\n  - name: lab\n    endpoint: "lab.example:99999"\n    credentials: { profile: p }\n    tasks: [8]\n';
    const e = reject(text);
    expect(e.message).toContain('exporter.yaml:5:13: accounts[0].tasks[0]: account prod: task ID "0x10" is not a decimal integer');
    expect(e.message).toContain('accounts[0].tasks[1].id: account prod: task ID "1e3" is not a decimal integer');
    expect(e.message).toContain('accounts[1].endpoint: account lab: "lab.example:99999" is not host or host:port: port 99999 is out of range');
  });

  it('refuses a bad endpoint given as a flag too', () => {
    expect(() => parseConfig('region: cn-shanghai\ntasks: [1]\n', FILE, { endpoint: '127.0.0.1:99999' })).toThrow(/endpoint: .*out of range/);
  });

  it('never reproduces long values: quoted values and listed problems are cut', () => {
    const secret = 'S'.repeat(5000);
    const lines = [`region: cn-shanghai`, `schedule: "${secret}"`, `request_timeout: "${secret}"`, `tasks: ["${secret}"]`, ...Array.from({ length: 50 }, (_, i) => `k${i}${secret}: v`)];
    const e = reject(lines.join('\n') + '\n');
    expect(e.message.split('\n').length).toBeLessThanOrEqual(21);
    expect(e.message).not.toContain('S'.repeat(100));
    for (const l of e.message.split('\n')) expect(l.length).toBeLessThanOrEqual(403);
    expect(e.message).toContain('... and');
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
