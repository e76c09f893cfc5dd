import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../src/cli/flags.js';
import { SelfMetrics } from '../src/metrics/self.js';
import { LATEST_SCAN_FAMILIES, MACHINE_FAMILIES } from '../src/metrics/scanFamilies.js';
import { TASK_FAMILIES } from '../src/metrics/taskFamilies.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every metric family the exporter emits', () => {
    const self = new SelfMetrics({ version: 'x', revision: 'y', processMetrics: false });
    const names = [...[...TASK_FAMILIES, ...LATEST_SCAN_FAMILIES, ...MACHINE_FAMILIES].map((f) => f.name), ...self.familyNames()];
    for (const name of names) expect(readme, name).toContain(`\`${name}\``);
  });

  it('documents every flag', () => {
    const flags = [...USAGE.matchAll(/--(?:\[no-\])?([a-z][a-z.-]+)/g)].map((m) => m[1]!);
    expect(flags.length).toBeGreaterThan(10);
    for (const f of flags) expect(readme, f).toContain(f);
  });

  it('gives the two set-up commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
  });

  it('never tells users to install or run the package by its name: it is not published', () => {
    // Lines inside fenced code blocks (fences may be indented in lists).
    let inside = false;
    const code = readme.split('\n').filter((line) => {
      if (/^\s*```/.test(line)) {
        inside = !inside;
        return false;
      }
      return inside;
    });
    expect(code.length).toBeGreaterThan(20);
    for (const line of code) {
      expect(line, line).not.toMatch(/\bnpx\s+(-\S+\s+)*aliyun-sas-exporter\b/);
      expect(line, line).not.toMatch(/\bnpm\s+(i|install|add)\b.*\s(aliyun-sas-exporter)(@\S*)?(\s|$)/);
    }
    expect(readme).toContain('**not published**');
  });

  it('covers the deploys in the order Kubernetes, VM (systemd), npm package', () => {
    const deploy = readme.slice(readme.indexOf('\n## Deploy\n'), readme.indexOf('\n## ', readme.indexOf('\n## Deploy\n') + 1));
    const headings = [...deploy.matchAll(/^### (.+)$/gm)].map((m) => m[1]);
    expect(headings.slice(0, 3)).toEqual(['Kubernetes', 'VM (systemd)', 'npm package']);
  });
});
