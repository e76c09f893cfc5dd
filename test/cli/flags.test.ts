import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FlagError, parseFlags, USAGE } from '../../src/cli/flags.js';
import { DEFAULT_CONFIG_FILE, packageRoot } from '../../src/cli/packagePaths.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('parseFlags', () => {
  it('has Prometheus-style defaults', () => {
    expect(parseFlags([])).toMatchObject({ configFile: path.join(ROOT, 'config/exporter.yaml'), listenAddress: ':9717', telemetryPath: '/metrics', logLevel: 'info', logFormat: 'logfmt', enableLifecycle: false, watchConfig: true, overrides: {} });
  });
  it('reads every flag', () => {
    const f = parseFlags(['--config.file=x.yaml', '--web.listen-address', '127.0.0.1:0', '--web.telemetry-path=/m', '--web.config.file=w.yaml', '--web.enable-lifecycle', '--no-config.watch', '--log.level=debug', '--log.format=json', '--sas.endpoint=127.0.0.1:9', '--sas.protocol=http']);
    expect(f).toMatchObject({ configFile: 'x.yaml', listenAddress: '127.0.0.1:0', telemetryPath: '/m', webConfigFile: 'w.yaml', enableLifecycle: true, watchConfig: false, logLevel: 'debug', logFormat: 'json', overrides: { endpoint: '127.0.0.1:9', protocol: 'http' } });
  });
  it.each([['--log.level=trace'], ['--log.format=xml'], ['--nope'], ['--web.telemetry-path=/-/x'], ['--web.telemetry-path=metrics'], ['--web.max-requests=0']])('rejects %s', (a) => {
    expect(() => parseFlags([a])).toThrow(FlagError);
  });
});

describe('default configuration file', () => {
  it('is the package\'s own demo, as an absolute path, whatever the working directory', () => {
    expect(path.isAbsolute(DEFAULT_CONFIG_FILE)).toBe(true);
    expect(DEFAULT_CONFIG_FILE).toBe(path.join(ROOT, 'config', 'exporter.yaml'));
    expect(USAGE).toContain(DEFAULT_CONFIG_FILE);
    expect(USAGE).toMatch(/default: the demo shipped with the package/);
  });

  it('packageRoot is the nearest directory with a package.json above the module (dist/src/cli/ in an install)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pkgroot-'));
    try {
      mkdirSync(path.join(dir, 'dist/src/cli'), { recursive: true });
      writeFileSync(path.join(dir, 'package.json'), '{}');
      expect(packageRoot(pathToFileURL(path.join(dir, 'dist/src/cli/packagePaths.js')).href)).toBe(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
