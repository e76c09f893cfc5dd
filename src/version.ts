/** Build identity, read once from package.json and the environment. */
import { readFileSync } from 'node:fs';

function packageJson(): { version?: unknown; homepage?: unknown } {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown; homepage?: unknown };
  } catch {
    return {};
  }
}

const pkg = packageJson();

export const VERSION = typeof pkg.version === 'string' ? pkg.version : 'unknown';
/** Set at image build time (docker build --build-arg REVISION=...). */
export const REVISION = process.env.ALIYUN_SAS_EXPORTER_REVISION ?? 'unknown';
/** package.json's `homepage` when it is an http(s) URL: where the landing page links the documentation. */
export const HOMEPAGE = typeof pkg.homepage === 'string' && /^https?:\/\/[^\s"'<>]+$/.test(pkg.homepage) ? pkg.homepage : undefined;
