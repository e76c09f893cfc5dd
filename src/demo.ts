/**
 * Demo mode (`simulator:` in the configuration): the built-in simulator of
 * the Security Center API runs in-process with its demo key pair, and the
 * exporter polls it. Loaded only when a configuration asks for it.
 */
import type { Logger } from './log/logger.js';
import { CredentialError, staticCredential } from './sas/credentials.js';
import type { CredentialSource } from './sas/client.js';

export interface EmbeddedSimulator {
  /** host:port of the simulator, polled over plain HTTP. */
  readonly endpoint: string;
  /**
   * The key of the scenario's account of this name (the scenario's only
   * or first account for the single-account form's '').
   */
  credentialFor(account: string): CredentialSource;
  close(): Promise<void>;
}

export async function startEmbeddedSimulator(scenarioFile: string, logger: Logger): Promise<EmbeddedSimulator> {
  const sim = await import('./simulator/index.js');
  const scenario = await sim.loadScenarioFile(scenarioFile);
  const handle = await sim.startSimulator({ scenario, host: '127.0.0.1', port: 0, log: (line: string) => logger.debug(line, { component: 'simulator' }) });
  const banner = [
    '*** DEMO MODE: polling the BUILT-IN SIMULATOR of the Security Center API, not Alibaba Cloud. ***',
    `*** Simulated tasks come from ${scenarioFile}. ***`,
    '*** To poll the real service: remove `simulator:` from the configuration, set `region:` and your task IDs, ***',
    '*** and provide credentials (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET or RRSA). ***',
  ];
  for (const line of banner) logger.warn(line);
  const accounts = sim.accountsOf(scenario);
  return {
    endpoint: handle.endpoint,
    credentialFor(account) {
      const a = account === '' ? accounts[0] : accounts.find((x) => x.name === account);
      const key = a?.credentials[0];
      if (!key) throw new CredentialError(`the demo scenario ${scenarioFile} has no account named ${JSON.stringify(account)}`);
      return staticCredential(key.accessKeyId, key.accessKeySecret, key.securityToken);
    },
    close: () => handle.close(),
  };
}
