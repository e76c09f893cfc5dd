import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebConfigError, loadWebConfig, parseWebConfig } from '../../src/web/config.js';
import { makePki, type Pki } from '../support/pki.js';

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.cleanup());

/** Parses `text` as if it were `<pki.dir>/web.yml`. */
function parse(text: string) {
  return parseWebConfig(text, 'web.yml', pki.dir);
}

function parseError(text: string): WebConfigError {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(WebConfigError);
    return err as WebConfigError;
  }
  throw new Error('expected a WebConfigError');
}

describe('parseWebConfig: valid files', () => {
  it('an empty file means plain HTTP, no auth, no headers', () => {
    const c = parse('');
    expect(c.tls).toBeUndefined();
    expect(c.basicAuthUsers).toBeUndefined();
    expect(c.headers).toEqual({});
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads a full TLS + mTLS + auth + headers configuration, with paths relative to the file', () => {
    const hash = bcrypt.hashSync('secret', 4);
    const c = parse(`
tls_server_config:
  cert_file: server1.crt
  key_file: server1.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca1.crt
  client_allowed_sans: [client.example]
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: false
  curve_preferences: [X25519, CurveP256]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Content-Security-Policy: "default-src 'none'"
    Strict-Transport-Security: ""
basic_auth_users:
  alice: ${hash}
`);
    const t = c.tls!;
    expect(t).toMatchObject({
      clientAuthType: 'RequireAndVerifyClientCert',
      requestCert: true,
      rejectUnauthorized: true,
      requireClientCert: true,
      verifyClientCert: true,
      clientAllowedSans: ['client.example'],
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    });
    expect(t.secureContextOptions.cert).toBe(pki.server1.cert);
    expect(t.secureContextOptions.key).toBe(pki.server1.key);
    expect(t.secureContextOptions.ca).toBe(pki.ca1.cert);
    expect(t.secureContextOptions.honorCipherOrder).toBe(false);
    expect(t.secureContextOptions.ecdhCurve).toBe('X25519:P-256');
    // TLS 1.2 suite mapped to its OpenSSL name; TLS 1.3 suites stay at Node's defaults.
    expect(t.secureContextOptions.ciphers).toMatch(/^TLS_AES_256_GCM_SHA384:.*:ECDHE-ECDSA-AES128-GCM-SHA256$/);
    expect(t.certificate.subject).toContain('CN=localhost');
    expect(t.certificate.validTo.getTime()).toBeGreaterThan(Date.now());
    expect(c.headers).toEqual({
      'X-Frame-Options': 'deny',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'",
    });
    expect(c.basicAuthUsers?.get('alice')).toBe(hash);
  });

  it('keeps the private key out of JSON and util.inspect', () => {
    const c = parse(`tls_server_config: {cert_file: server1.crt, key_file: server1.key}\n`);
    expect(JSON.stringify(c)).not.toContain('PRIVATE KEY');
    expect(inspect(c, { depth: 10 })).not.toContain('PRIVATE KEY');
    expect(c.tls?.secureContextOptions.key).toContain('PRIVATE KEY');
  });

  it('accepts inline PEM, the RequireClientCert alias, and defaults to TLS12..TLS13 with NoClientCert', () => {
    const c = parse(
      `tls_server_config:\n  cert: ${JSON.stringify(pki.server1.cert)}\n  key: ${JSON.stringify(pki.server1.key)}\n`,
    );
    expect(c.tls).toMatchObject({ clientAuthType: 'NoClientCert', requestCert: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    const c2 = parse(`tls_server_config: {cert_file: server1.crt, key_file: server1.key, client_auth_type: RequireClientCert}\n`);
    expect(c2.tls).toMatchObject({ clientAuthType: 'RequireAnyClientCert', requestCert: true, rejectUnauthorized: false, requireClientCert: true });
  });

  it('accepts $2y$ (htpasswd) hashes, and bcryptjs verifies them', async () => {
    const hash2y = bcrypt.hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$');
    const c = parse(`basic_auth_users:\n  bob: "${hash2y}"\n`);
    expect(c.basicAuthUsers?.get('bob')).toBe(hash2y);
    expect(await bcrypt.compare('s3cret', hash2y)).toBe(true);
    expect(await bcrypt.compare('wrong', hash2y)).toBe(false);
  });

  it('an empty basic_auth_users or tls_server_config section configures nothing', () => {
    const c = parse('basic_auth_users: {}\ntls_server_config:\n');
    expect(c.basicAuthUsers).toBeUndefined();
    expect(c.tls).toBeUndefined();
  });

  it('loadWebConfig resolves relative paths against the file directory, not the cwd', async () => {
    const sub = path.join(pki.dir, 'conf');
    mkdirSync(sub, { recursive: true });
    const file = path.join(sub, 'web.yml');
    writeFileSync(file, 'tls_server_config:\n  cert_file: ../server1.crt\n  key_file: ../server1.key\n');
    const c = await loadWebConfig(file);
    expect(c.file).toBe(file);
    expect(c.tls?.secureContextOptions.cert).toBe(pki.server1.cert);
  });

  it('loadWebConfig names an unreadable config file', async () => {
    await expect(loadWebConfig(path.join(pki.dir, 'nope.yml'))).rejects.toThrow(/nope\.yml: cannot read web config file: no such file/);
  });
});

describe('parseWebConfig: errors name the file, the line and the field', () => {
  it('unknown top-level key', () => {
    const e = parseError('basic_auth_users: {}\nfoo: 1\n');
    expect(e.message).toMatch(/^web\.yml:2:1: foo: unknown key "foo"/);
    expect(e.issues[0]).toMatchObject({ file: 'web.yml', line: 2, column: 1, field: 'foo' });
  });

  it('unknown key inside tls_server_config', () => {
    const e = parseError('tls_server_config:\n  cert_file: server1.crt\n  key_file: server1.key\n  cert_flie: x\n');
    expect(e.message).toMatch(/^web\.yml:4:3: tls_server_config\.cert_flie: unknown key "cert_flie"; allowed: cert, key,/);
  });

  it('bad client_auth_type', () => {
    const e = parseError('tls_server_config:\n  cert_file: server1.crt\n  key_file: server1.key\n  client_auth_type: RequireSomething\n');
    expect(e.message).toMatch(
      /^web\.yml:4:21: tls_server_config\.client_auth_type: invalid value "RequireSomething"; expected one of: NoClientCert, RequestClientCert/,
    );
  });

  it('bad min_version', () => {
    const e = parseError('tls_server_config:\n  min_version: TLS1.2\n  cert_file: server1.crt\n  key_file: server1.key\n');
    expect(e.message).toMatch(/^web\.yml:2:16: tls_server_config\.min_version: invalid value "TLS1\.2"; expected one of: TLS10, TLS11, TLS12, TLS13/);
  });

  it('min_version above max_version', () => {
    const e = parseError('tls_server_config:\n  cert_file: server1.crt\n  key_file: server1.key\n  min_version: TLS13\n  max_version: TLS12\n');
    expect(e.message).toMatch(/web\.yml:4:16: tls_server_config\.min_version: min_version TLS13 is above max_version TLS12/);
  });

  it('wrong type', () => {
    const e = parseError('tls_server_config:\n  cert_file: server1.crt\n  key_file: server1.key\n  client_allowed_sans: client.example\n');
    expect(e.message).toMatch(/web\.yml:4:24: tls_server_config\.client_allowed_sans: expected a list, got a string/);
  });

  it('missing cert file names the file and the field', () => {
    const e = parseError('tls_server_config:\n  cert_file: missing.crt\n  key_file: server1.key\n');
    expect(e.message).toContain(`web.yml:2:14: tls_server_config.cert_file: cannot read "${path.join(pki.dir, 'missing.crt')}": no such file`);
  });

  it('a file that is not a certificate', () => {
    const e = parseError('tls_server_config:\n  cert_file: server1.key\n  key_file: server1.key\n');
    expect(e.message).toMatch(/web\.yml:2:14: tls_server_config\.cert_file: ".*server1\.key": no PEM certificate found/);
  });

  it('a corrupt certificate', () => {
    writeFileSync(path.join(pki.dir, 'corrupt.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const e = parseError('tls_server_config:\n  cert_file: corrupt.crt\n  key_file: server1.key\n');
    expect(e.message).toMatch(/tls_server_config\.cert_file: ".*corrupt\.crt": certificate #1 is invalid/);
  });

  it('a key that does not match the certificate fails at load', () => {
    const e = parseError('tls_server_config:\n  cert_file: server1.crt\n  key_file: server2.key\n');
    expect(e.message).toMatch(
      /^web\.yml:3:13: tls_server_config\.key_file: the private key in ".*server2\.key" does not match the certificate in ".*server1\.crt"$/,
    );
  });

  it('a key file that is not a key', () => {
    const e = parseError('tls_server_config:\n  cert_file: server1.crt\n  key_file: server1.crt\n');
    expect(e.message).toMatch(/web\.yml:3:13: tls_server_config\.key_file: ".*server1\.crt": not a valid unencrypted PEM private key/);
  });

  it('missing key, cert + cert_file together', () => {
    const e = parseError(`tls_server_config:\n  cert_file: server1.crt\n  cert: x\n`);
    expect(e.issues.map((i) => i.message)).toEqual(['set either cert or cert_file, not both', 'missing one of key or key_file']);
    expect(e.issues[1]).toMatchObject({ line: 2, field: 'tls_server_config' });
  });

  it('a TLS section without a certificate is an error, not silent plain HTTP', () => {
    const e = parseError('tls_server_config:\n  min_version: TLS13\n');
    expect(e.message).toContain('tls_server_config: missing one of cert or cert_file');
  });

  it('client CA without client_auth_type, verification without CA, SANs without a required cert', () => {
    expect(parseError('tls_server_config: {cert_file: server1.crt, key_file: server1.key, client_ca_file: ca1.crt}\n').message).toContain(
      "tls_server_config.client_ca_file: client CA's have been configured without a Client Auth Policy",
    );
    expect(
      parseError('tls_server_config: {cert_file: server1.crt, key_file: server1.key, client_auth_type: RequireAndVerifyClientCert}\n').message,
    ).toContain('RequireAndVerifyClientCert needs client_ca_file or client_ca');
    expect(
      parseError(
        'tls_server_config: {cert_file: server1.crt, key_file: server1.key, client_auth_type: VerifyClientCertIfGiven, client_ca_file: ca1.crt, client_allowed_sans: [a]}\n',
      ).message,
    ).toContain('client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert');
  });

  it('a client CA file without certificates', () => {
    const e = parseError(
      'tls_server_config: {cert_file: server1.crt, key_file: server1.key, client_auth_type: RequireAndVerifyClientCert, client_ca_file: ca1.key}\n',
    );
    expect(e.message).toMatch(/tls_server_config\.client_ca_file: ".*ca1\.key": no PEM certificate found/);
  });

  it('unknown cipher suite and curve', () => {
    const e = parseError(
      'tls_server_config:\n  cert_file: server1.crt\n  key_file: server1.key\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n  curve_preferences:\n    - CurveP256\n    - P-256\n',
    );
    expect(e.message).toMatch(/web\.yml:4:19: tls_server_config\.cipher_suites\[0\]: invalid value "TLS_RSA_WITH_RC4_128_SHA"/);
    expect(e.message).toMatch(/web\.yml:7:7: tls_server_config\.curve_preferences\[1\]: invalid value "P-256"/);
  });

  it('invalid bcrypt hash, without echoing it', () => {
    const e = parseError('basic_auth_users:\n  alice: plaintext-password\n  "bo:b": $2y$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABCDE\n');
    expect(e.message).toMatch(/web\.yml:2:10: basic_auth_users\.alice: not a valid bcrypt hash/);
    expect(e.message).toMatch(/web\.yml:3:3: basic_auth_users\.bo:b: user name "bo:b" contains ":"/);
    expect(e.message).not.toContain('plaintext-password');
  });

  it('headers outside the allow-list and bad enumerated values', () => {
    const e = parseError('http_server_config:\n  headers:\n    X-Frame-Options: allow\n    Server: nginx\n');
    expect(e.message).toMatch(/web\.yml:3:22: http_server_config\.headers\.X-Frame-Options: invalid value "allow"; expected one of: deny, sameorigin/);
    expect(e.message).toMatch(/web\.yml:4:5: http_server_config\.headers\.Server: HTTP header "Server" can not be configured/);
  });

  it('unknown key in http_server_config and unsupported rate_limit', () => {
    const e = parseError('http_server_config:\n  header: {}\nrate_limit:\n  interval: 1s\n  burst: 5\n');
    expect(e.message).toMatch(/web\.yml:2:3: http_server_config\.header: unknown key "header"; allowed: http2, headers/);
    const e2 = parseError('rate_limit:\n  interval: 1s\n');
    expect(e2.message).toMatch(/web\.yml:1:1: rate_limit: rate_limit is not supported/);
  });

  it('YAML syntax errors and duplicate keys carry their line', () => {
    expect(parseError('tls_server_config:\n  cert_file: a\n  cert_file: b\n').message).toMatch(/^web\.yml:3:3: YAML syntax: Map keys must be unique/);
    expect(parseError('basic_auth_users: [\n').message).toMatch(/^web\.yml:\d+:\d+: YAML syntax: /);
  });

  it('a document that is not a mapping', () => {
    expect(parseError('- a\n- b\n').message).toMatch(/^web\.yml:1:1: the web config must be a YAML mapping/);
  });

  it('reports every problem at once', () => {
    const e = parseError('foo: 1\nbar: 2\n');
    expect(e.issues).toHaveLength(2);
    expect(e.message.split('\n')).toHaveLength(2);
  });
});
