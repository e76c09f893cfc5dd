/** Build identity, read once from package.json and the environment. */
import { readFileSync } from 'node:fs';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION = packageVersion();
/** Set at image build time (docker build --build-arg REVISION=...). */
export const REVISION = process.env.ALIYUN_SAS_EXPORTER_REVISION ?? 'unknown';
