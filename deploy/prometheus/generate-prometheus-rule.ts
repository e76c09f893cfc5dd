/**
 * Generates what derives from deploy/prometheus/rules.yml:
 *
 * - the runbook links: every alert's `runbook_url` annotation, in rules.yml
 *   and in the expectations of rules.test.yml, is RUNBOOK_BASE followed by
 *   the anchor of the alert's section of README.md;
 * - rules.yml as a prometheus-operator PrometheusRule, written to
 *   deploy/prometheus/prometheus-rule.yaml and deploy/kubernetes/base/prometheusrule.yaml
 *   (kustomize refuses files outside the kustomization's directory by
 *   default, so the copy lives there too).
 *
 *   npm run build && node dist/deploy/prometheus/generate-prometheus-rule.js
 *   node dist/deploy/prometheus/generate-prometheus-rule.js --check   # exit 1 on drift
 *
 * Everything is rewritten as text, so comments and block scalars survive,
 * and every result is checked to parse to what it should;
 * test/deploy/prometheus-rules.test.ts fails when a committed file differs
 * from what this renders.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Document, parseDocument } from 'yaml';
import { isMain, repoRoot } from '../lib/repo.js';

export const RULES_FILE = 'deploy/prometheus/rules.yml';
export const RULES_TEST_FILE = 'deploy/prometheus/rules.test.yml';
/** Every file rendered from RULES_FILE, relative to the repository root. */
export const PROMETHEUS_RULE_FILES = ['deploy/prometheus/prometheus-rule.yaml', 'deploy/kubernetes/base/prometheusrule.yaml'] as const;

export const PROMETHEUS_RULE_NAME = 'aliyun-sas-exporter';

/**
 * Where the alerts' runbooks live: every alert's runbook_url is
 * `${RUNBOOK_BASE}#alert-<alert name in lower case>`: the anchor that
 * GitHub-style Markdown renderers give the README heading
 * "### Alert: <AlertName>".
 *
 * The default is relative: the README.md of this project, wherever it is
 * hosted or checked out. To have notifications link a hosted copy, set the
 * README's web address, e.g.
 * 'https://git.example.com/ops/aliyun-sas-exporter/-/blob/main/README.md',
 * or a wiki page with the same anchors, and regenerate.
 */
export const RUNBOOK_BASE = 'README.md';

/** The runbook address of one alert. */
export function runbookUrl(alert: string, base: string = RUNBOOK_BASE): string {
  return `${base}#alert-${alert.toLowerCase()}`;
}

/**
 * Sets every `runbook_url:` line of a rules file (after `- alert: Name`) or
 * of a promtool test file (after `alertname: Name`) to runbookUrl(Name, base).
 * A runbook_url with no alert before it is an error.
 */
export function applyRunbookBase(text: string, base: string = RUNBOOK_BASE, file = 'rules'): string {
  if (!/^[^\s#'"&*!|>%@`{}[\],?-][^\s#]*$/.test(base)) {
    throw new Error(`runbook base ${JSON.stringify(base)}: expected a URL or path without spaces or "#"`);
  }
  let alert: string | undefined;
  return text
    .split('\n')
    .map((line, i) => {
      const named = /^\s*(?:-\s+)?(?:alert|alertname):\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(line);
      if (named) alert = named[1];
      const link = /^(\s*runbook_url:\s*).*$/.exec(line);
      if (!link) return line;
      if (!alert) throw new Error(`${file}:${i + 1}: runbook_url before any alert name`);
      return `${link[1]}${runbookUrl(alert, base)}`;
    })
    .join('\n');
}

const HEADER = [
  ` GENERATED from ${RULES_FILE} by deploy/prometheus/generate-prometheus-rule.ts: do not edit.`,
  ' Regenerate: npm run build && node dist/deploy/prometheus/generate-prometheus-rule.js',
  '',
  ' prometheus-operator only loads PrometheusRules matched by the ruleSelector of',
  ' its Prometheus resource: kube-prometheus-stack, for one, selects',
  ' `release: <helm release name>`; add that label (for instance with a',
  ' kustomize patch) if your Prometheus needs it.',
].join('\n');

/** Renders the PrometheusRule YAML for the text of rules.yml. */
export function renderPrometheusRule(rulesYaml: string): string {
  const source = parseDocument(rulesYaml, { prettyErrors: true });
  if (source.errors.length > 0) throw new Error(`${RULES_FILE}: ${source.errors.map((e) => e.message).join('; ')}`);
  const rules: unknown = source.toJS();
  if (!isRecord(rules) || !Array.isArray(rules.groups) || rules.groups.length === 0) throw new Error(`${RULES_FILE}: no rule groups`);
  const extra = Object.keys(rules).filter((k) => k !== 'groups');
  if (extra.length > 0) throw new Error(`${RULES_FILE}: unexpected top-level keys ${extra.join(', ')}`);

  // The groups are moved under spec: as text, indented by two spaces, so
  // that comments, block scalars and line breaks stay exactly as written.
  const lines = rulesYaml.replace(/\r\n/g, '\n').split('\n');
  const start = lines.findIndex((l) => /^groups:\s*$/.test(l));
  if (start < 0) throw new Error(`${RULES_FILE}: expected a line "groups:" at column 0`);
  const body = lines
    .slice(start)
    .map((l) => (l.trim() === '' ? '' : `  ${l}`))
    .join('\n')
    .replace(/\n*$/, '\n');

  const head = new Document({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: PROMETHEUS_RULE_NAME,
      labels: {
        'app.kubernetes.io/name': 'aliyun-sas-exporter',
        'app.kubernetes.io/component': 'alerting-rules',
      },
    },
  });
  head.commentBefore = HEADER;
  const rendered = `${head.toString()}spec:\n${body}`;

  // The text transform must not change a thing: compare the parsed results.
  const check: unknown = parseDocument(rendered).toJS();
  if (!isRecord(check) || !isRecord(check.spec) || JSON.stringify(check.spec.groups) !== JSON.stringify(rules.groups)) {
    throw new Error(`internal: the rendered PrometheusRule does not hold the groups of ${RULES_FILE}`);
  }
  return rendered;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every generated file's expected content, by path relative to the repository root. */
export function renderAll(root: string, base: string = RUNBOOK_BASE): Map<string, string> {
  const rules = applyRunbookBase(readFileSync(path.join(root, RULES_FILE), 'utf8'), base, RULES_FILE);
  const tests = applyRunbookBase(readFileSync(path.join(root, RULES_TEST_FILE), 'utf8'), base, RULES_TEST_FILE);
  const out = new Map<string, string>([
    [RULES_FILE, rules],
    [RULES_TEST_FILE, tests],
  ]);
  const prometheusRule = renderPrometheusRule(rules);
  for (const rel of PROMETHEUS_RULE_FILES) out.set(rel, prometheusRule);
  return out;
}

/** Writes (or, with check, compares) every generated file; returns the drifted ones. */
export function generate(root: string, check = false): string[] {
  const drifted: string[] = [];
  for (const [rel, rendered] of renderAll(root)) {
    const file = path.join(root, rel);
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === rendered) continue;
    drifted.push(rel);
    if (!check) writeFileSync(file, rendered);
  }
  return drifted;
}

if (isMain(import.meta.url)) {
  const check = process.argv.includes('--check');
  const drifted = generate(repoRoot(import.meta.url), check);
  if (check && drifted.length > 0) {
    console.error(`out of date: ${drifted.join(', ')} (run without --check to regenerate)`);
    process.exit(1);
  }
  for (const rel of drifted) console.log(`wrote ${rel}`);
}
