import { describe, expect, it } from 'vitest';
import { FlagError, parseFlags } from '../../src/cli/flags.js';

describe('parseFlags', () => {
  it('has Prometheus-style defaults', () => {
    expect(parseFlags([])).toMatchObject({ configFile: 'config/exporter.yaml', listenAddress: ':9717', telemetryPath: '/metrics', logLevel: 'info', logFormat: 'logfmt', enableLifecycle: false, watchConfig: true, overrides: {} });
  });
  it('reads every flag', () => {
    const f = parseFlags(['--config.file=x.yaml', '--web.listen-address', '127.0.0.1:0', '--web.telemetry-path=/m', '--web.config.file=w.yaml', '--web.enable-lifecycle', '--no-config.watch', '--log.level=debug', '--log.format=json', '--sas.endpoint=127.0.0.1:9', '--sas.protocol=http']);
    expect(f).toMatchObject({ configFile: 'x.yaml', listenAddress: '127.0.0.1:0', telemetryPath: '/m', webConfigFile: 'w.yaml', enableLifecycle: true, watchConfig: false, logLevel: 'debug', logFormat: 'json', overrides: { endpoint: '127.0.0.1:9', protocol: 'http' } });
  });
  it.each([['--log.level=trace'], ['--log.format=xml'], ['--nope'], ['--web.telemetry-path=/-/x'], ['--web.telemetry-path=metrics'], ['--web.max-requests=0']])('rejects %s', (a) => {
    expect(() => parseFlags([a])).toThrow(FlagError);
  });
});
