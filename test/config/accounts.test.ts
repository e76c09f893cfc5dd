/** The multi-account form of the configuration: defaults, credentials, and every rejection with file, line and account. */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';

const FILE = 'exporter.yaml';

function reject(text: string, overrides = {}): string {
  try {
    parseConfig(text, FILE, overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected the configuration to be rejected');
}

const THREE = `schedule: "*/15 * * * * *"
request_timeout: 5s
rate_limit: { qps: 3, burst: 2 }
terminal_recheck_interval: 1m
accounts:
  - name: prod
    region: cn-shanghai
    credentials:
      access_key_id_env: PROD_SAS_AK_ID
      access_key_secret_env: PROD_SAS_AK_SECRET
      security_token_env: PROD_SAS_STS_TOKEN
    rate_limit: { qps: 5, burst: 5 }
    concurrency: 8
    tasks: [282832, { id: "9007199254740993", name: weekly }]
  - name: staging
    endpoint: tds.ap-southeast-1.aliyuncs.com
    credentials:
      profile: staging
    tasks: [282832]
  - name: subsidiary
    region: cn-hangzhou
    credentials:
      role_arn: acs:ram::1234567890123456:role/sas-readonly
      external_id: abc-123
      sts_endpoint: 127.0.0.1:8443
    tasks: [1]
`;

describe('accounts', () => {
  it('reads three accounts; top-level settings are the defaults of each', () => {
    const c = parseConfig(THREE, FILE);
    expect(c.multiAccount).toBe(true);
    expect(c.schedule).toBe('*/15 * * * * *');
    expect(c.accounts.map((a) => a.name)).toEqual(['prod', 'staging', 'subsidiary']);
    const [prod, staging, sub] = c.accounts;
    expect(prod).toMatchObject({
      endpoint: 'tds.cn-shanghai.aliyuncs.com',
      requestTimeoutMs: 5000,
      concurrency: 8,
      rateLimit: { qps: 5, burst: 5 },
      terminalRecheckIntervalMs: 60_000,
      credentials: { env: { accessKeyId: 'PROD_SAS_AK_ID', accessKeySecret: 'PROD_SAS_AK_SECRET', securityToken: 'PROD_SAS_STS_TOKEN' } },
      tasks: [
        { id: '282832', name: '' },
        { id: '9007199254740993', name: 'weekly' },
      ],
    });
    expect(staging).toMatchObject({ endpoint: 'tds.ap-southeast-1.aliyuncs.com', rateLimit: { qps: 3, burst: 2 }, concurrency: 4, credentials: { profile: 'staging' }, tasks: [{ id: '282832' }] });
    expect(sub!.credentials).toEqual({
      role: { arn: 'acs:ram::1234567890123456:role/sas-readonly', sessionName: 'aliyun-sas-exporter', externalId: 'abc-123', stsEndpoint: '127.0.0.1:8443', durationSeconds: 3600 },
    });
    expect(sub!.endpoint).toBe('tds.cn-shanghai.aliyuncs.com');
  });

  it('the single-account form is one account without a name', () => {
    const c = parseConfig('region: cn-shanghai\ntasks: [1]\n', FILE);
    expect(c.multiAccount).toBe(false);
    expect(c.accounts.map((a) => a.name)).toEqual(['']);
    expect(c.accounts[0]!.credentials).toBeUndefined();
  });

  it('the same task ID in two accounts is two tasks', () => {
    const c = parseConfig('accounts:\n  - { name: a, region: cn-shanghai, tasks: [5] }\n  - { name: b, region: cn-shanghai, tasks: [5] }\n', FILE);
    expect(c.accounts.map((a) => a.tasks[0]!.id)).toEqual(['5', '5']);
  });

  const base = 'accounts:\n  - name: prod\n    region: cn-shanghai\n    tasks: [1]\n';
  it.each([
    ['a duplicate account name', `${base}  - name: prod\n    region: cn-shanghai\n    tasks: [2]\n`, 'exporter.yaml:5:11: accounts[1].name: account prod: duplicate account name prod (also accounts[0]) at line 2'],
    ['a bad account name', 'accounts:\n  - name: Prod!\n    region: cn-shanghai\n    tasks: [1]\n', 'exporter.yaml:2:11: accounts[0].name: account "Prod!": must be 1-63 of a-z, 0-9, _ and -'],
    ['an account without a name', 'accounts:\n  - region: cn-shanghai\n    tasks: [1]\n', 'accounts[0].name: every account needs a name'],
    ['accounts beside tasks', `tasks: [1]\n${base}`, 'exporter.yaml:1:8: tasks: tasks and accounts are mutually exclusive'],
    ['accounts beside region', `region: cn-shanghai\n${base}`, 'exporter.yaml:1:9: region: region and accounts are mutually exclusive'],
    ['a duplicate task ID within an account', 'accounts:\n  - name: prod\n    region: cn-shanghai\n    tasks: [1, "01"]\n', 'exporter.yaml:4:16: accounts[0].tasks[1]: account prod: duplicate task ID 1'],
    ['an account without region or endpoint', 'accounts:\n  - name: prod\n    tasks: [1]\n', 'exporter.yaml:2:5: accounts[0].region: account prod: set region (e.g. cn-shanghai) or endpoint'],
    ['an account without tasks', 'accounts:\n  - name: prod\n    region: cn-shanghai\n', 'exporter.yaml:2:5: accounts[0].tasks: account prod: is required'],
    ['a role ARN that is not an ARN', `${base}    credentials: { role_arn: "arn:aws:iam::1:role/x" }\n`, 'exporter.yaml:5:30: accounts[0].credentials.role_arn: account prod: must be a RAM role ARN'],
    ['an access key ID variable without its secret', `${base}    credentials: { access_key_id_env: PROD_AK }\n`, 'exporter.yaml:5:39: accounts[0].credentials.access_key_id_env: account prod: access_key_id_env and access_key_secret_env go together'],
    ['an environment variable name that is not one', `${base}    credentials: { access_key_id_env: "PROD-AK", access_key_secret_env: S }\n`, 'exporter.yaml:5:39: accounts[0].credentials.access_key_id_env: account prod: must be the name of an environment variable'],
    ['a profile beside variables', `${base}    credentials: { access_key_id_env: A, access_key_secret_env: S, profile: p }\n`, 'accounts[0].credentials.profile: account prod: give either profile or the *_env variables, not both'],
    ['a session name without a role', `${base}    credentials: { profile: p, role_session_name: x1 }\n`, 'accounts[0].credentials.role_session_name: account prod: role_session_name needs role_arn'],
    ['empty credentials', `${base}    credentials: {}\n`, 'exporter.yaml:5:18: accounts[0].credentials: account prod: name *_env variables, a profile or a role_arn'],
    ['a credential value in the file', `${base}    credentials: { access_key_secret: abc }\n`, 'accounts[0].credentials.access_key_secret: unknown key "access_key_secret"'],
    ['an unknown account key', `${base}    regoin: x\n`, 'exporter.yaml:5:5: accounts[0].regoin: unknown key "regoin"; allowed: name, region, endpoint'],
    ['no account at all', 'accounts: []\n', 'accounts: must list at least one account'],
  ])('rejects %s, naming file, line, field and account', (_what, text, expected) => {
    expect(reject(text)).toContain(expected);
  });

  it('the --sas.* flags apply to the single-account form only', () => {
    expect(reject(base, { endpoint: '127.0.0.1:9' })).toContain('accounts: the --sas.region, --sas.endpoint and --sas.protocol flags apply to the single-account form');
    expect(parseConfig(base, FILE, { schedule: '*/5 * * * * *' }).schedule).toBe('*/5 * * * * *');
  });
});

describe('config/exporter.example.yaml', () => {
  it('its commented accounts block, uncommented, is a valid multi-account configuration', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../config/exporter.example.yaml', import.meta.url), 'utf8');
    const block = text.slice(text.indexOf('# accounts:'));
    const yaml = block
      .split('\n')
      .map((l) => l.replace(/^# ?/, ''))
      .join('\n');
    const c = parseConfig(yaml, 'example-accounts.yaml');
    expect(c.accounts.map((a) => a.name)).toEqual(['prod', 'staging', 'subsidiary']);
    expect(c.accounts[2]!.latestScan.enabled).toBe(true);
    expect(c.accounts[2]!.credentials?.role?.durationSeconds).toBe(3600);
  });
});
