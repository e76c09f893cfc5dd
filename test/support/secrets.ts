/**
 * The shared secret-leak grep of the end-to-end tests: every exporter a test
 * starts gets a key pair (STS by default) whose secret and token occur
 * nowhere else, so any sighting of them, in any encoding, in the process's
 * output or in a /metrics body is a leak.
 */
import { randomBytes } from 'node:crypto';
import type { ExporterProcess } from './exporter.js';

export interface TestCredentials {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  /** Present for an STS key pair. */
  readonly securityToken?: string;
}

/**
 * A fresh key pair for one exporter. The secret and the token hold `+`, `/`
 * and `=`, so their URL-encoded and JSON forms differ from the raw ones and
 * are grepped for too.
 */
export function distinctiveCredentials(tag: string, opts: { sts?: boolean } = {}): TestCredentials {
  const rnd = () => randomBytes(12).toString('base64');
  const sts = opts.sts ?? true;
  return {
    accessKeyId: `${sts ? 'STS' : 'LTAI'}.hardening-${tag}-${randomBytes(4).toString('hex')}`,
    accessKeySecret: `HardeningSecret+${tag}/${rnd()}=`,
    ...(sts ? { securityToken: `HardeningStsToken/${tag}+${rnd()}${rnd()}==` } : {}),
  };
}

/** The environment for the exporter's default credential chain (env provider). */
export function credentialEnv(c: TestCredentials): Record<string, string | undefined> {
  return {
    ALIBABA_CLOUD_ACCESS_KEY_ID: c.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: c.accessKeySecret,
    ALIBABA_CLOUD_SECURITY_TOKEN: c.securityToken,
    // Nothing else from the developer's machine may feed the chain.
    ALIBABA_CLOUD_ROLE_ARN: undefined,
    ALIBABA_CLOUD_OIDC_PROVIDER_ARN: undefined,
    ALIBABA_CLOUD_OIDC_TOKEN_FILE: undefined,
    ALIBABA_CLOUD_CREDENTIALS_FILE: undefined,
    ALIBABA_CLOUD_PROFILE: undefined,
    ALIBABA_CLOUD_CREDENTIALS_URI: undefined,
  };
}

/** The same pair as a simulator scenario's `credentials` entry. */
export function scenarioCredential(c: TestCredentials): Record<string, string> {
  return {
    access_key_id: c.accessKeyId,
    access_key_secret: c.accessKeySecret,
    ...(c.securityToken ? { security_token: c.securityToken } : {}),
  };
}

export function secretsOf(c: TestCredentials): string[] {
  return [c.accessKeySecret, ...(c.securityToken ? [c.securityToken] : [])];
}

/** Every spelling of `secret` a log line or a label value could carry. */
export function leakForms(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
    Buffer.from(secret).toString('hex'),
    // A distinctive middle part: catches truncated or partly masked copies.
    secret.slice(Math.floor(secret.length / 4), Math.floor((3 * secret.length) / 4)),
  ]);
  return [...forms];
}

/** Descriptions of the leaks in `text` ("" when none). */
export function findLeaks(text: string, secrets: readonly string[]): string[] {
  const found: string[] = [];
  for (const s of secrets) {
    for (const form of leakForms(s)) {
      const i = text.indexOf(form);
      if (i >= 0) found.push(`${JSON.stringify(form)} at offset ${i}: ...${text.slice(Math.max(0, i - 80), i + form.length + 20)}...`);
    }
  }
  return found;
}

/** Throws when any text holds any form of any secret. */
export function assertNoLeaks(where: string, texts: Iterable<string>, secrets: readonly string[]): void {
  let n = 0;
  for (const t of texts) {
    const leaks = findLeaks(t, secrets);
    if (leaks.length > 0) throw new Error(`secret leaked in ${where} #${n}:\n${leaks.join('\n')}`);
    n++;
  }
}

/**
 * Keeps every body `p.scrapeText` (and so `scrape` and `until`) returns;
 * push the bodies of hand-made requests (auth, parallel scrapes) into the
 * same array.
 */
export function recordScrapes(p: ExporterProcess): string[] {
  const bodies: string[] = [];
  const original = p.scrapeText.bind(p);
  p.scrapeText = async (pathname?: string) => {
    const text = await original(pathname);
    bodies.push(text);
    return text;
  };
  return bodies;
}
