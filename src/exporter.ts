/**
 * Wires the stages together: config -> SAS client -> poller -> metrics ->
 * HTTP, and owns reloads (SIGHUP, /-/reload, file changes) and shutdown.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Config as CredentialConfig } from '@alicloud/credentials';
import type { Flags } from './cli/flags.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { ExporterConfig } from './config/schema.js';
import { createRequestListener, type ReloadOutcome } from './http/app.js';
import { basicAuthMiddleware } from './http/basicAuth.js';
import { parseListenAddress, startServer, type ServingHandle } from './http/listen.js';
import { loadWebConfig, type WebConfig } from './http/webConfig.js';
import { addSecret, type Logger } from './log/logger.js';
import { ExpositionCache } from './metrics/cache.js';
import { SelfMetrics } from './metrics/self.js';
import { Poller } from './poller/poller.js';
import { CredentialClient, SasClient, type CredentialSource } from './sas/client.js';
import { REVISION, VERSION } from './version.js';

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** Resolves the default credential chain once, so a missing credential is a start-up error rather than failed polls. */
async function resolveCredential(logger: Logger): Promise<CredentialSource> {
  const credential = new CredentialClient();
  // STS and RRSA credentials are refreshed behind our back: teach the log
  // scrubber every secret the chain hands out, not only the first.
  const getCredential = credential.getCredential.bind(credential);
  credential.getCredential = async () => {
    const fresh = await getCredential();
    addSecret(fresh.accessKeySecret);
    addSecret(fresh.securityToken);
    return fresh;
  };
  try {
    const c = await credential.getCredential();
    logger.info('credentials found', { provider: c.type ?? 'default', access_key_id: maskKeyId(c.accessKeyId) });
    return credential;
  } catch (err) {
    throw new StartupError(
      'no Alibaba Cloud credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, ' +
        'or use RRSA (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), ' +
        `a CLI profile, ~/.alibabacloud/credentials or an ECS RAM role (${(err as Error).message.slice(0, 200)})`,
    );
  }
}

function maskKeyId(id: string | undefined): string {
  if (!id) return '';
  return id.length <= 8 ? '****' : `${id.slice(0, 4)}****${id.slice(-4)}`;
}

interface SimulatorRuntime {
  endpoint: string;
  close(): Promise<void>;
  credential: CredentialSource;
}

/** Demo mode: the built-in simulator, in-process, with its demo key pair. */
async function startEmbeddedSimulator(scenarioFile: string, logger: Logger): Promise<SimulatorRuntime> {
  const sim = await import('./simulator/index.js');
  const scenario = await sim.loadScenarioFile(scenarioFile);
  const handle = await sim.startSimulator({ scenario, host: '127.0.0.1', port: 0, log: (line: string) => logger.debug(line, { component: 'simulator' }) });
  const credential = new CredentialClient(
    new CredentialConfig({ type: 'access_key', accessKeyId: sim.DEMO_CREDENTIALS.accessKeyId, accessKeySecret: sim.DEMO_CREDENTIALS.accessKeySecret }),
  );
  const banner = [
    '*** DEMO MODE: polling the BUILT-IN SIMULATOR of the Security Center API, not Alibaba Cloud. ***',
    `*** Simulated tasks come from ${scenarioFile}. ***`,
    '*** To poll the real service: remove `simulator:` from the configuration, set `region:` and your task IDs, ***',
    '*** and provide credentials (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET or RRSA). ***',
  ];
  for (const line of banner) logger.warn(line);
  return { endpoint: handle.endpoint, close: () => handle.close(), credential };
}

export interface RunningExporter {
  readonly url: string;
  reload(trigger: string): Promise<ReloadOutcome>;
  stop(): Promise<void>;
}

export async function startExporter(flags: Flags, logger: Logger): Promise<RunningExporter> {
  const self = new SelfMetrics({ version: VERSION, revision: REVISION });
  let config: ExporterConfig;
  try {
    config = await loadConfig(flags.configFile, flags.overrides);
  } catch (err) {
    if (err instanceof ConfigError) throw new StartupError(`invalid configuration:\n${err.message}`);
    throw err;
  }
  let webConfig: WebConfig | undefined;
  if (flags.webConfigFile) {
    try {
      webConfig = await loadWebConfig(flags.webConfigFile);
    } catch (err) {
      throw new StartupError(`invalid web configuration:\n${(err as Error).message}`);
    }
  }
  const listen = parseListenAddress(flags.listenAddress);

  let simulator: SimulatorRuntime | undefined;
  let credential: CredentialSource;
  if (config.simulator) {
    simulator = await startEmbeddedSimulator(config.simulator.scenario, logger);
    credential = simulator.credential;
  } else {
    credential = await resolveCredential(logger);
  }
  const endpointOf = (c: ExporterConfig) => (simulator ? simulator.endpoint : c.endpoint);
  const protocolOf = (c: ExporterConfig) => (simulator ? 'http' : c.protocol);
  const makeClient = (c: ExporterConfig) =>
    new SasClient({ endpoint: endpointOf(c), protocol: protocolOf(c), region: c.region, requestTimeoutMs: c.requestTimeoutMs, credential });

  const cache = new ExpositionCache(() => self.renderParts());
  const pollerLogger = logger.child({ component: 'poller' });
  const poller = new Poller({ source: makeClient(config), logger: pollerLogger, observer: self });
  // Ready once the first cycle's results are what /metrics serves: the
  // snapshot that ends the first cycle must have been rendered, not only
  // published (a scrape right after /-/ready said 200 showed no poll results).
  let firstCycleGeneration: number | undefined;
  poller.onSnapshot((snap) => {
    if (firstCycleGeneration === undefined && poller.ready) firstCycleGeneration = snap.generation;
    cache.update(snap).catch((err: unknown) => logger.error('rendering metrics failed', { err: String(err) }));
  });
  // aliyun_sas_tasks follows the task series being served, not the file just
  // read: set at reload time, a scrape during the render of the new snapshot
  // showed the new count beside the old task set.
  cache.onRendered((_generation, _ms, snap) => self.tasks.set(snap.tasks.length));
  poller.configure(config);
  self.configLoaded(true, Date.now());
  logger.info('configuration loaded', { file: flags.configFile, tasks: config.tasks.length, endpoint: endpointOf(config), schedule: config.schedule });

  let reloading: Promise<ReloadOutcome> | undefined;
  const doReload = async (trigger: string): Promise<ReloadOutcome> => {
    let next: ExporterConfig;
    let nextWeb: WebConfig | undefined;
    try {
      next = await loadConfig(flags.configFile, flags.overrides);
      if (flags.webConfigFile) nextWeb = await loadWebConfig(flags.webConfigFile);
    } catch (err) {
      self.configLoaded(false, Date.now());
      const msg = (err as Error).message;
      logger.error('configuration reload failed; keeping the running configuration', { trigger, err: msg });
      return { ok: false, error: msg };
    }
    if (nextWeb) {
      const r = serving.reload(nextWeb);
      if (r && !r.ok) {
        self.configLoaded(false, Date.now());
        logger.error('web configuration reload failed; keeping the running configuration', { trigger, err: r.error });
        return { ok: false, error: r.error };
      }
      webConfig = nextWeb;
    }
    if (Boolean(next.simulator) !== Boolean(config.simulator) || next.simulator?.scenario !== config.simulator?.scenario) {
      logger.warn('a change of `simulator` needs a restart; the rest of the configuration is applied', { trigger });
    }
    if (endpointOf(next) !== endpointOf(config) || protocolOf(next) !== protocolOf(config) || next.requestTimeoutMs !== config.requestTimeoutMs || next.region !== config.region) {
      poller.setSource(makeClient(next));
    }
    const { added, removed } = poller.configure(next);
    config = next;
    self.configLoaded(true, Date.now());
    logger.info('configuration reloaded', { trigger, tasks: next.tasks.length, added: added.length, removed: removed.length, schedule: next.schedule });
    return { ok: true };
  };
  // Reloads are serialised: a SIGHUP storm runs one after another, never two at once.
  const reload = (trigger: string): Promise<ReloadOutcome> => {
    const run = (reloading ?? Promise.resolve()).then(() => doReload(trigger));
    reloading = run.finally(() => {
      if (reloading === run) reloading = undefined;
    }) as Promise<ReloadOutcome>;
    return run;
  };

  const app = createRequestListener({
    telemetryPath: flags.telemetryPath,
    cache,
    self,
    logger: logger.child({ component: 'http' }),
    isReady: () => firstCycleGeneration !== undefined && cache.generation >= firstCycleGeneration,
    reload: flags.enableLifecycle ? () => reload('http') : undefined,
    auth: basicAuthMiddleware(() => webConfig?.basicAuthUsers),
    headers: () => webConfig?.headers ?? {},
    maxConcurrentScrapes: flags.maxRequests,
  });
  let serving: ServingHandle;
  try {
    serving = await startServer(app, { host: listen.host, port: listen.port, webConfig });
  } catch (err) {
    await simulator?.close();
    throw new StartupError(`cannot listen on ${flags.listenAddress}: ${(err as Error).message}`);
  }
  poller.start();
  const url = `${serving.url.replace(/\/$/, '').replace(/\/\/(\[::\]|0\.0\.0\.0)(?=:)/, '//localhost')}${flags.telemetryPath}`;
  logger.info('listening', { address: flags.listenAddress, metrics_url: url, tls: Boolean(webConfig?.tls), basic_auth: Boolean(webConfig?.basicAuthUsers) });
  if (simulator) logger.warn(`*** DEMO MODE: open ${url} to see the simulated scans. ***`);

  const watcher = flags.watchConfig ? watchFile(flags.configFile, () => void reload('file change'), logger) : undefined;

  return {
    url,
    reload,
    async stop() {
      watcher?.close();
      await poller.stop(2000);
      await serving.close();
      await simulator?.close();
    },
  };
}

/**
 * Watches the directory rather than the file: editors replace files by
 * rename and Kubernetes swaps a ConfigMap's `..data` symlink, both of which
 * a watch on the file itself would miss. Debounced; fires only when the
 * content actually changed.
 */
function watchFile(file: string, onChange: () => void, logger: Logger): { close(): void } {
  const dir = path.dirname(path.resolve(file));
  let lastHash: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const hash = async () => {
    try {
      return createHash('sha256').update(await readFile(file)).digest('hex');
    } catch {
      return 'unreadable';
    }
  };
  void hash().then((h) => (lastHash = h));
  const check = async () => {
    const h = await hash();
    if (h === lastHash) return;
    lastHash = h;
    onChange();
  };
  let w: FSWatcher | undefined;
  try {
    w = watch(dir, { persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void check(), 300);
    });
    w.on('error', (err) => logger.warn('configuration watch failed; SIGHUP still reloads', { err: err.message }));
  } catch (err) {
    logger.warn('cannot watch the configuration file; SIGHUP still reloads', { err: (err as Error).message });
  }
  return {
    close() {
      clearTimeout(timer);
      w?.close();
    },
  };
}
