/**
 * deploy/systemd: the unit runs the exporter as its own user with the usual
 * hardening, reloads with SIGHUP, reads credentials from a root-only
 * environment file; `systemd-analyze verify` accepts it without a single
 * warning, `systemd-analyze security` rates it, and systemd-sysusers creates
 * its user from the shipped sysusers.d file.
 *
 * systemd-analyze and systemd-sysusers come with Debian's systemd package and
 * need no running systemd. Outside CI a missing one skips those tests with a
 * printed reason; with CI set they fail.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/flags.js';
import { runTool, toolGate } from '../support/prometheus.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = path.join(root, 'deploy/systemd');
const UNIT = 'aliyun-sas-exporter.service';
const unitText = readFileSync(path.join(dir, UNIT), 'utf8');
const sysusersText = readFileSync(path.join(dir, 'aliyun-sas-exporter.sysusers'), 'utf8');
const envExample = readFileSync(path.join(dir, 'credentials.env.example'), 'utf8');

/** Where `npm install -g --prefix /usr/local` links the package's bin (the npm-pack test installs the same way). */
const BINARY = '/usr/local/bin/aliyun-sas-exporter';
const CONFIG = '/etc/aliyun-sas-exporter/exporter.yaml';
const CREDENTIALS = '/etc/aliyun-sas-exporter/credentials.env';

/** A unit file as sections of (key, value) pairs; keys may repeat. */
function parseUnit(text: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let current: [string, string][] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`unexpected line: ${raw}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(unitText);
const service = unit.get('Service') ?? [];
const one = (key: string): string | undefined => {
  const all = service.filter(([k]) => k === key).map(([, v]) => v);
  expect(all.length, key).toBeLessThanOrEqual(1);
  return all[0];
};
const all = (key: string): string[] => service.filter(([k]) => k === key).map(([, v]) => v);

describe('systemd unit (static)', () => {
  it('runs the globally installed binary on the configuration in /etc, with flags the exporter accepts', () => {
    const [bin, ...args] = one('ExecStart')!.split(/\s+/);
    expect(bin).toBe(BINARY);
    const flags = parseFlags(args);
    expect(flags.configFile).toBe(CONFIG);
    expect(one('Type')).toBe('exec');
    expect(unit.get('Install')).toEqual([['WantedBy', 'multi-user.target']]);
    expect(unit.get('Unit')).toEqual(expect.arrayContaining([['After', 'network-online.target'], ['Wants', 'network-online.target']]));
  });

  it('runs as the dedicated user that the sysusers.d file creates, never root', () => {
    expect(one('User')).toBe('aliyun-sas-exporter');
    expect(one('Group')).toBe('aliyun-sas-exporter');
    const users = sysusersText.split('\n').filter((l) => /^u\s/.test(l));
    expect(users).toHaveLength(1);
    expect(users[0]!.split(/\s+/)[1]).toBe(one('User'));
    expect(one('DynamicUser') ?? 'no').toBe('no');
  });

  it('reloads with SIGHUP to the main process, and stops in time', () => {
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(Number(/^(\d+)s$/.exec(one('TimeoutStopSec')!)?.[1])).toBeGreaterThan(10); // the exporter stops within 10 s
    expect(one('Restart')).toBe('on-failure');
  });

  it('takes credentials from an optional environment file, readable by root only', () => {
    expect(one('EnvironmentFile')).toBe(`-${CREDENTIALS}`);
    expect(unitText).toMatch(/root:root 0600/);
    expect(envExample).toContain('install -m 0600 -o root -g root');
    const vars = envExample.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(vars).toEqual(['ALIBABA_CLOUD_ACCESS_KEY_ID=REPLACE_WITH_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET=REPLACE_WITH_ACCESS_KEY_SECRET']);
    // No credential anywhere else in the unit.
    expect(service.filter(([k, v]) => k === 'Environment' && /ALIBABA_CLOUD/.test(v))).toEqual([]);
  });

  it('carries the usual hardening', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      PrivateUsers: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      ProtectClock: 'yes',
      ProtectHostname: 'yes',
      ProtectProc: 'invisible',
      RestrictNamespaces: 'yes',
      RestrictRealtime: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      SystemCallArchitectures: 'native',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      UMask: '0077',
    };
    for (const [k, v] of Object.entries(expected)) expect(one(k), k).toBe(v);
    expect(all('SystemCallFilter')).toEqual(['@system-service', '~@privileged']);
    expect(one('RestrictAddressFamilies')!.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    // V8's JIT needs writable executable memory.
    expect(one('MemoryDenyWriteExecute')).toBeUndefined();
    // Nothing is written: no state, cache or logs directory, no writable path.
    for (const k of ['StateDirectory', 'CacheDirectory', 'LogsDirectory', 'ReadWritePaths']) expect(one(k), k).toBeUndefined();
  });
});

const gate = toolGate(['systemd-analyze']);
if (gate.skip) console.warn(`[systemd.test] skipping systemd-analyze checks: ${gate.reason}`);
const itAnalyze = gate.skip ? it.skip : it;
const usersGate = toolGate(['systemd-sysusers']);
if (usersGate.skip) console.warn(`[systemd.test] skipping the systemd-sysusers check: ${usersGate.reason}`);
const itSysusers = usersGate.skip ? it.skip : it;

describe('systemd tools', () => {
  const tmp: string[] = [];
  afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /**
   * The unit in a temp dir under its own name. verify insists that ExecStart
   * names an executable, and this machine has no global install of the
   * exporter: the binary path alone is replaced with a wrapper that runs the
   * built exporter. Nothing else in the unit changes.
   */
  function stage(text: string): string {
    const d = mkdtempSync(path.join(tmpdir(), 'systemd-unit-'));
    tmp.push(d);
    const wrapper = path.join(d, 'bin', 'aliyun-sas-exporter');
    mkdirSync(path.dirname(wrapper));
    writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${path.join(root, 'dist/src/main.js')}" "$@"\n`);
    chmodSync(wrapper, 0o755);
    const staged = text.split(`ExecStart=${BINARY} `).join(`ExecStart=${wrapper} `);
    expect(staged).not.toBe(text);
    const file = path.join(d, UNIT);
    writeFileSync(file, staged);
    return file;
  }

  itAnalyze('systemd-analyze verify: accepted, without a single warning', () => {
    const r = runTool(gate.path('systemd-analyze'), ['verify', '--man=no', stage(unitText)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((r.stdout + r.stderr).trim(), 'every warning of verify is about something ignored').toBe('');
  });

  itAnalyze('systemd-analyze verify reports a misspelt directive (the check checks)', () => {
    const r = runTool(gate.path('systemd-analyze'), ['verify', '--man=no', stage(unitText.replace('ProtectSystem=strict', 'ProtectSystem=strictt'))]);
    expect(r.stderr).toMatch(/ProtectSystem|protect system/i);
  });

  itAnalyze('systemd-analyze security --offline: exposure 2.0 or less ("OK")', () => {
    const r = runTool(gate.path('systemd-analyze'), ['security', '--offline=yes', '--threshold=20', '--no-pager', stage(unitText)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const level = /Overall exposure level for .*: (\d+\.\d+)/.exec(r.stdout);
    expect(level, r.stdout).not.toBeNull();
    expect(Number(level![1])).toBeLessThanOrEqual(2.0);
  });

  itSysusers('systemd-sysusers creates the system user and group, without a login shell', () => {
    const sysroot = mkdtempSync(path.join(tmpdir(), 'sysusers-root-'));
    tmp.push(sysroot);
    mkdirSync(path.join(sysroot, 'etc'));
    const r = runTool(usersGate.path('systemd-sysusers'), [`--root=${sysroot}`, '--replace=/etc/sysusers.d/aliyun-sas-exporter.conf', path.join(dir, 'aliyun-sas-exporter.sysusers')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const passwd = readFileSync(path.join(sysroot, 'etc/passwd'), 'utf8').trim().split(':');
    expect(passwd[0]).toBe('aliyun-sas-exporter');
    expect(Number(passwd[2])).toBeGreaterThan(0);
    expect(Number(passwd[2])).toBeLessThan(1000); // a system user
    expect(passwd[6]).toMatch(/nologin$/);
    expect(readFileSync(path.join(sysroot, 'etc/group'), 'utf8')).toMatch(/^aliyun-sas-exporter:x:\d+:$/m);
  });
});
