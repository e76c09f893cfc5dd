/**
 * The daemon: starts the pipeline (config -> SAS client -> poller ->
 * metrics), serves it over HTTP, wires reloads, and stops it all.
 */
import type { Flags } from './cli/flags.js';
import { ConfigError, loadConfig, MAX_CONFIG_BYTES } from './config/load.js';
import type { AccountConfig, ExporterConfig } from './config/schema.js';
import { startEmbeddedSimulator, type EmbeddedSimulator } from './demo.js';
import { startHttp } from './http/serve.js';
import type { Logger } from './log/logger.js';
import { Pipeline } from './pipeline.js';
import { Reloader, watchFiles, type FileWatch, type ReloadOutcome, type WatchedFile } from './reload.js';
import { SasClient, type CredentialSource } from './sas/client.js';
import { CredentialError, CredentialStore, resolveAccountCredential, resolveDefaultCredential } from './sas/credentials.js';
import { loadWebConfig, MAX_PEM_FILE_BYTES, MAX_WEB_CONFIG_BYTES, WebConfigError, type WebConfig } from './web/config.js';
import { parseListenAddress } from './web/listenAddress.js';
import type { ServingHandle } from './web/server.js';

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export interface RunningExporter {
  readonly url: string;
  reload(trigger: string): Promise<ReloadOutcome>;
  stop(): Promise<void>;
}

export async function startExporter(flags: Flags, logger: Logger): Promise<RunningExporter> {
  // The files are watched from before their first load, so that a change made while the exporter
  // starts is seen (a reload once started) rather than missed; reloads wait for the exporter.
  const early: EarlyWatch = { changed: false };
  const watcher = flags.watchConfig ? watchFiles(watchedFiles(flags.configFile, flags.webConfigFile, undefined), () => (early.reload ? early.reload() : (early.changed = true)), logger) : undefined;
  try {
    await watcher?.ready;
    return await start(flags, logger, watcher, early);
  } catch (err) {
    watcher?.close();
    throw err;
  }
}

interface EarlyWatch {
  /** Set once the exporter runs. */
  reload?: () => void;
  /** A watched file changed before that. */
  changed: boolean;
}

async function start(flags: Flags, logger: Logger, watcher: FileWatch | undefined, early: EarlyWatch): Promise<RunningExporter> {
  const loaded = await loadConfig(flags.configFile, flags.overrides).catch(startupError('invalid configuration'));
  let webConfig = flags.webConfigFile ? await loadWebConfig(flags.webConfigFile).catch(startupError('invalid web configuration')) : undefined;
  watcher?.update(watchedFiles(flags.configFile, flags.webConfigFile, webConfig));
  checkCertificateDates(webConfig, logger);
  const listen = parseListenAddress(flags.listenAddress);

  const simulator: EmbeddedSimulator | undefined = loaded.simulator ? await startEmbeddedSimulator(loaded.simulator.scenario, logger) : undefined;
  // In demo mode every account polls the simulator, over plain HTTP.
  const effective = (c: ExporterConfig): ExporterConfig => (simulator ? { ...c, accounts: c.accounts.map((a) => ({ ...a, endpoint: simulator.endpoint, protocol: 'http' })) } : c);
  const config = effective(loaded);
  // Every account's credential is resolved now: one that cannot be is a start-up error naming the account.
  let defaultChain: Promise<CredentialSource> | undefined;
  const credentials = new CredentialStore(async (a) =>
    simulator
      ? simulator.credentialFor(a.name)
      : resolveAccountCredential(a, logger, () =>
          (defaultChain ??= resolveDefaultCredential(logger).catch((err: unknown) => {
            defaultChain = undefined; // asked again next time
            throw err;
          })),
        ),
  );
  try {
    await credentials.update(config.accounts);
  } catch (err) {
    await simulator?.close();
    return startupError('')(err);
  }
  const pipeline = new Pipeline(config, {
    logger,
    readyTimeoutMs: flags.readyTimeoutMs,
    makeSource: (a: AccountConfig) => new SasClient({ endpoint: a.endpoint, protocol: a.protocol, region: a.region, requestTimeoutMs: a.requestTimeoutMs, credential: credentials.get(a.name) }),
  });
  logger.info('configuration loaded', { file: flags.configFile, ...configSummary(config), endpoints: [...new Set(config.accounts.map((a) => a.endpoint))].join(' '), schedule: config.schedule });

  let serving: ServingHandle | undefined;
  const reloader = new Reloader(async (trigger) => {
    const failed = (what: string, err: string): ReloadOutcome => {
      pipeline.self.configLoaded(false, Date.now());
      logger.error(`${what} reload failed; keeping the running configuration`, { trigger, err });
      return { ok: false, error: err };
    };
    let next: ExporterConfig;
    let nextWeb: WebConfig | undefined;
    try {
      next = effective(await loadConfig(flags.configFile, flags.overrides));
      if (flags.webConfigFile) nextWeb = await loadWebConfig(flags.webConfigFile);
    } catch (err) {
      return failed('configuration', (err as Error).message);
    }
    if (nextWeb && serving) {
      const r = serving.reload(nextWeb);
      if (!r.ok) return failed('web configuration', r.error);
      webConfig = nextWeb;
      checkCertificateDates(webConfig, logger);
    }
    if (Boolean(next.simulator) !== Boolean(pipeline.config.simulator) || next.simulator?.scenario !== pipeline.config.simulator?.scenario) {
      logger.warn('a change of `simulator` needs a restart; the rest of the configuration is applied', { trigger });
    }
    let result;
    try {
      await credentials.update(next.accounts);
      result = pipeline.apply(next);
    } catch (err) {
      // Credentials of new accounts stay resolved (harmless); the running configuration stays in force.
      return failed('configuration', (err as Error).message);
    }
    watcher?.update(watchedFiles(flags.configFile, flags.webConfigFile, webConfig));
    logger.info('configuration reloaded', {
      trigger,
      ...configSummary(next),
      added: result.added.length,
      removed: result.removed.length,
      ...(next.multiAccount ? { accounts_added: result.accountsAdded.join(','), accounts_removed: result.accountsRemoved.join(',') } : {}),
      schedule: next.schedule,
    });
    return { ok: true };
  });

  try {
    serving = await startHttp({
      listen,
      telemetryPath: flags.telemetryPath,
      cache: pipeline.cache,
      self: pipeline.self,
      isReady: () => pipeline.ready,
      notReadyReason: () => {
        const r = pipeline.readiness();
        return `${r.answered} of ${r.total} tasks and latest scans answered; ready when all are, or ${flags.readyTimeoutMs / 1000} s after start`;
      },
      reload: flags.enableLifecycle ? () => reloader.reload('http') : undefined,
      webConfig: () => webConfig,
      maxRequests: flags.maxRequests,
      logger: logger.child({ component: 'http' }),
      status: () => pipeline.status(),
    });
  } catch (err) {
    await simulator?.close();
    const message = (err as Error).message;
    // The server's own listen errors already say where.
    throw new StartupError(message.startsWith('cannot listen on') ? message : `cannot listen on ${flags.listenAddress}: ${message}`);
  }
  pipeline.start();
  const url = `${serving.url.replace(/\/$/, '').replace(/\/\/(\[::\]|0\.0\.0\.0)(?=:)/, '//localhost')}${flags.telemetryPath}`;
  logger.info('listening', { address: flags.listenAddress, metrics_url: url, tls: Boolean(webConfig?.tls), tls_not_after: webConfig?.tls?.certificate.validTo.toISOString(), basic_auth: Boolean(webConfig?.basicAuthUsers) });
  if (simulator) logger.warn(`*** DEMO MODE: open ${url} to see the simulated scans. ***`);

  early.reload = () => void reloader.reload('file change');
  if (early.changed) early.reload();
  const server = serving;
  return {
    url,
    reload: (trigger) => reloader.reload(trigger),
    async stop() {
      watcher?.close();
      await pipeline.stop(2000);
      await server.close();
      await simulator?.close();
    },
  };
}

/** The files a change of which reloads: the configuration, the web configuration and its TLS material. */
function watchedFiles(configFile: string, webConfigFile: string | undefined, web: WebConfig | undefined): WatchedFile[] {
  const files: WatchedFile[] = [{ file: configFile, maxBytes: MAX_CONFIG_BYTES }];
  if (webConfigFile) files.push({ file: webConfigFile, maxBytes: MAX_WEB_CONFIG_BYTES });
  for (const f of web?.tlsFiles ?? []) files.push({ file: f, maxBytes: MAX_PEM_FILE_BYTES });
  return files;
}

/** A certificate outside its validity is served (as exporter-toolkit does), with a warning at each load. */
function checkCertificateDates(web: WebConfig | undefined, logger: Logger): void {
  const cert = web?.tls?.certificate;
  if (!cert) return;
  const now = Date.now();
  if (cert.validTo.getTime() < now) {
    logger.warn('the TLS certificate served has expired; scrapers that verify it will fail', { file: web!.file, subject: cert.subject, not_after: cert.validTo.toISOString() });
  } else if (cert.validFrom.getTime() > now) {
    logger.warn('the TLS certificate served is not valid yet; scrapers that verify it will fail', { file: web!.file, subject: cert.subject, not_before: cert.validFrom.toISOString() });
  }
}

/** What a log line says of a configuration. */
function configSummary(c: ExporterConfig): Record<string, string | number> {
  const tasks = c.accounts.reduce((n, a) => n + a.tasks.length, 0);
  return c.multiAccount ? { accounts: c.accounts.length, tasks } : { tasks };
}

/** A failure at start, as one StartupError whose message names the file and line. */
function startupError(what: string): (err: unknown) => never {
  return (err) => {
    // The first line names the file (and line) of the first problem; others follow, one per line.
    if (err instanceof ConfigError || err instanceof WebConfigError) throw new StartupError(`${what}: ${err.message}`);
    if (err instanceof CredentialError) throw new StartupError(err.message);
    throw err;
  };
}
