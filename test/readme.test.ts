import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../src/cli/flags.js';
import { SelfMetrics } from '../src/metrics/self.js';
import { TASK_FAMILIES } from '../src/metrics/taskFamilies.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every metric family the exporter emits', () => {
    const self = new SelfMetrics({ version: 'x', revision: 'y', processMetrics: false });
    const names = [...TASK_FAMILIES.map((f) => f.name), ...self.familyNames()];
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
});
