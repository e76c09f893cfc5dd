/**
 * Credentials for the SAS client: the Alibaba Cloud default chain, resolved
 * once at start so that "no credential" is a start-up error rather than a
 * stream of failed polls, and every secret it hands out registered with the
 * log scrubber (refreshed STS tokens included).
 */
import {
  Config as CredentialConfig,
  type CredentialsProvider,
  DefaultCredentialsProvider,
  ProfileCredentialsProvider,
  RAMRoleARNCredentialsProvider,
  StaticAKCredentialsProvider,
  StaticSTSCredentialsProvider,
} from '@alicloud/credentials';
import type { AccountConfig, CredentialsConfig } from '../config/schema.js';
import { addSecret, type Logger } from '../log/logger.js';
import { CredentialClient, type CredentialSource } from './client.js';
import { isNetworkFailure } from './errors.js';

export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

/** `LTAI****abcd`: enough to tell keys apart in a log, not enough to use one. */
export function maskKeyId(id: string | undefined): string {
  if (!id) return '';
  return id.length <= 8 ? '****' : `${id.slice(0, 4)}****${id.slice(-4)}`;
}

/**
 * A credentials provider failed while a call was being made (an STS
 * AssumeRole refused or unreachable, an ECS metadata service down, a
 * credentials file gone): counted as `credentials`, not as a failure of the
 * SAS API. `transient` when the cause was the network, which a retry may cure.
 */
export class CredentialProviderError extends Error {
  override readonly name = 'CredentialProviderError';
  readonly transient: boolean;
  constructor(cause: unknown) {
    const first = String((cause as { message?: unknown } | undefined)?.message ?? cause).split('\n')[0]!.slice(0, 200);
    super(`credentials provider failed: ${first}`);
    this.transient = isNetworkFailure(cause);
  }
}

/**
 * Wraps `credential` so that every secret and token it returns is known to
 * the log scrubber, and a provider's failure is told apart from the API's.
 */
export function scrubbed(credential: CredentialSource): CredentialSource {
  const getCredential = credential.getCredential.bind(credential);
  credential.getCredential = async () => {
    let fresh;
    try {
      fresh = await getCredential();
    } catch (err) {
      throw new CredentialProviderError(err);
    }
    addSecret(fresh.accessKeySecret);
    addSecret(fresh.securityToken);
    return fresh;
  };
  return credential;
}

/** An access key pair given in full (the demo's, a test's). */
export function staticCredential(accessKeyId: string, accessKeySecret: string, securityToken?: string): CredentialSource {
  addSecret(accessKeySecret);
  addSecret(securityToken);
  const config = securityToken
    ? new CredentialConfig({ type: 'sts', accessKeyId, accessKeySecret, securityToken })
    : new CredentialConfig({ type: 'access_key', accessKeyId, accessKeySecret });
  return new CredentialClient(config);
}

/** The default chain, asked once now; throws a CredentialError naming every way to provide one. */
export async function resolveDefaultCredential(logger: Logger): Promise<CredentialSource> {
  const credential = scrubbed(new CredentialClient());
  try {
    const c = await credential.getCredential();
    logger.info('credentials found', { provider: c.type ?? 'default', access_key_id: maskKeyId(c.accessKeyId) });
    return credential;
  } catch (err) {
    throw new CredentialError(
      'no Alibaba Cloud credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, ' +
        'or use RRSA (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), ' +
        `a CLI profile, ~/.alibabacloud/credentials or an ECS RAM role (${(err as Error).message.slice(0, 200)})`,
    );
  }
}

/** What @alicloud/credentials calls a credentials provider. */
type Provider = CredentialsProvider;

/** The account in messages: `account prod`, or nothing in the single-account form. */
function who(account: AccountConfig): string {
  return account.name ? `account ${account.name}` : 'the account';
}

/** The base credential an account names (environment variables or a profile), or the default chain. */
function baseProvider(account: AccountConfig, c: CredentialsConfig): Provider {
  if (c.env) {
    const read = (name: string): string => {
      const v = process.env[name];
      if (v === undefined || v === '') throw new CredentialError(`${who(account)}: environment variable ${name} is not set`);
      return v;
    };
    const id = read(c.env.accessKeyId);
    const secret = read(c.env.accessKeySecret);
    addSecret(secret);
    if (c.env.securityToken) {
      const token = read(c.env.securityToken);
      addSecret(token);
      return StaticSTSCredentialsProvider.builder().withAccessKeyId(id).withAccessKeySecret(secret).withSecurityToken(token).build();
    }
    return StaticAKCredentialsProvider.builder().withAccessKeyId(id).withAccessKeySecret(secret).build();
  }
  if (c.profile) return ProfileCredentialsProvider.builder().withProfileName(c.profile).build();
  return DefaultCredentialsProvider.builder().build();
}

/**
 * An account's credential, asked once now so that a variable not set, a
 * profile that does not exist or a role that cannot be assumed is an error
 * naming the account (at start: exit 1; on reload: the reload is refused).
 * Without `credentials` the account uses the default chain (`defaultChain`,
 * resolved once and shared).
 */
export async function resolveAccountCredential(account: AccountConfig, logger: Logger, defaultChain: () => Promise<CredentialSource>): Promise<CredentialSource> {
  const c = account.credentials;
  if (!c) return defaultChain();
  let provider = baseProvider(account, c);
  if (c.role) {
    const b = RAMRoleARNCredentialsProvider.builder()
      .withCredentialsProvider(provider)
      .withRoleArn(c.role.arn)
      .withRoleSessionName(c.role.sessionName)
      .withDurationSeconds(c.role.durationSeconds);
    if (c.role.externalId) b.withExternalId(c.role.externalId);
    if (c.role.stsEndpoint) b.withStsEndpoint(c.role.stsEndpoint);
    provider = b.build();
  }
  const credential = scrubbed(new CredentialClient(null, provider));
  const what = c.role ? `role ${c.role.arn}` : c.profile ? `profile ${c.profile}` : 'environment variables';
  try {
    const got = await credential.getCredential();
    logger.info('credentials found', { ...(account.name ? { account: account.name } : {}), provider: got.type ?? what, access_key_id: maskKeyId(got.accessKeyId) });
  } catch (err) {
    // The provider's message may quote the credentials file: keep it short, and the scrubber knows the secrets.
    throw new CredentialError(`${who(account)}: cannot get credentials from the ${what}: ${(err as Error).message.split('\n')[0]!.slice(0, 200)}`);
  }
  return credential;
}

/**
 * The credential of every account, resolved when the configuration names
 * new ones, kept while an account's `credentials` stay the same.
 */
export class CredentialStore {
  private entries = new Map<string, { readonly key: string; readonly credential: CredentialSource }>();

  constructor(private readonly resolve: (account: AccountConfig) => Promise<CredentialSource>) {}

  /**
   * Resolves what `accounts` need (one after another, so a failure names the
   * first account at fault) and only then replaces the set in use: on any
   * failure nothing changes.
   */
  async update(accounts: readonly AccountConfig[]): Promise<void> {
    const next = new Map<string, { key: string; credential: CredentialSource }>();
    for (const a of accounts) {
      const key = JSON.stringify(a.credentials ?? null);
      const kept = this.entries.get(a.name);
      next.set(a.name, kept && kept.key === key ? kept : { key, credential: await this.resolve(a) });
    }
    this.entries = next;
  }

  get(account: string): CredentialSource {
    const e = this.entries.get(account);
    if (!e) throw new Error(`no credential resolved for account ${JSON.stringify(account)}`);
    return e.credential;
  }
}
