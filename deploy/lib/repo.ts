/**
 * Shared by the generators under deploy/: where the repository is, and
 * whether a module runs as the program. They work the same from the
 * TypeScript sources (vitest, tsx) and from dist/ after `npm run build`.
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root: the nearest parent of `fromUrl` that holds deploy/prometheus/rules.yml. */
export function repoRoot(fromUrl: string): string {
  let dir = path.dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(path.join(dir, 'deploy', 'prometheus', 'rules.yml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no repository root (deploy/prometheus/rules.yml) above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
}

/** True when the module at `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === moduleUrl;
  } catch {
    return false;
  }
}
