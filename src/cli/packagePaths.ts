/**
 * Files of the installed package, found from this module rather than from
 * the working directory: `aliyun-sas-exporter` installed globally runs from
 * anywhere.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the nearest directory above `moduleUrl` that holds a
 * package.json (dist/src/cli/ -> the package; src/cli/ under the test runner
 * -> the checkout). The same directory in a clone, an npm install and the
 * container image (/app).
 */
export function packageRoot(moduleUrl: string = import.meta.url): string {
  const start = path.dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(start, '..', '..', '..');
  }
}

/**
 * The configuration used without --config.file: the demo shipped with the
 * package (config/exporter.yaml, which runs the built-in simulator), as an
 * absolute path. A real deployment passes its own file.
 */
export const DEFAULT_CONFIG_FILE = path.join(packageRoot(), 'config', 'exporter.yaml');
