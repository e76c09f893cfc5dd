/**
 * Credentials for the SAS client: the Alibaba Cloud default chain, resolved
 * once at start so that "no credential" is a start-up error rather than a
 * stream of failed polls, and every secret it hands out registered with the
 * log scrubber (refreshed STS tokens included).
 */
import { Config as CredentialConfig } from '@alicloud/credentials';
import { addSecret, type Logger } from '../log/logger.js';
import { CredentialClient, type CredentialSource } from './client.js';

export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

/** `LTAI****abcd`: enough to tell keys apart in a log, not enough to use one. */
export function maskKeyId(id: string | undefined): string {
  if (!id) return '';
  return id.length <= 8 ? '****' : `${id.slice(0, 4)}****${id.slice(-4)}`;
}

/** Wraps `credential` so that every secret and token it returns is known to the log scrubber. */
export function scrubbed(credential: CredentialSource): CredentialSource {
  const getCredential = credential.getCredential.bind(credential);
  credential.getCredential = async () => {
    const fresh = await getCredential();
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
