/**
 * An exposition parser that is not ours: the Prometheus Python client's
 * (Debian's python3-prometheus-client), strict OpenMetrics 1.0 and text
 * 0.0.4. Used to prove that label escaping survives quotes, backslashes and
 * non-ASCII. Outside CI, without it, the tests that need it skip with the
 * reason printed; in CI they fail.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PYTHON = '/usr/bin/python3';
const SCRIPT = `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
from prometheus_client.parser import text_string_to_metric_families as text
body = sys.stdin.read()
parse = om if sys.argv[1] == 'openmetrics' else text
out = []
for family in parse(body):
    for s in family.samples:
        out.append({'name': s.name, 'labels': s.labels, 'value': s.value})
json.dump(out, sys.stdout)
`;

export interface IndependentSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export type ParserGate = { readonly skip: boolean; readonly reason: string };

export function independentParserGate(env: NodeJS.ProcessEnv = process.env): ParserGate {
  const required = Boolean(env.CI) && env.CI !== 'false' && env.CI !== '0';
  const probe = existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import prometheus_client.openmetrics.parser'], { encoding: 'utf8' }) : undefined;
  if (probe && probe.status === 0) return { skip: false, reason: '' };
  const why = 'the Prometheus Python client is not installed (apt-get install python3-prometheus-client)';
  return required ? { skip: false, reason: `${why}: required because CI is set` } : { skip: true, reason: `${why}: skipped outside CI` };
}

/** Parses `body` strictly; throws with the parser's message when it refuses it. */
export function parseIndependently(body: string, format: 'openmetrics' | 'text'): IndependentSample[] {
  const r = spawnSync(PYTHON, ['-c', SCRIPT, format], { input: body, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`the Prometheus Python client refused the ${format} exposition: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout) as IndependentSample[];
}
