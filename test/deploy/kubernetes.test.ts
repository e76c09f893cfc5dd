/**
 * deploy/kubernetes: every manifest of the base (base/) parses and validates
 * against the Kubernetes schemas, and ports, probe paths, names, selectors
 * and the security context agree with the exporter's defaults and with each
 * other. deploy/kubernetes itself (the base, as `kubectl apply -k
 * deploy/kubernetes` applies it), and every overlay under
 * deploy/kubernetes/overlays/, is rendered with a real kustomize; the
 * rendered objects are validated against the schemas and their references
 * checked, and the exporter configurations they mount are parsed by the
 * exporter's own loader.
 *
 * What the schema check covers, and what not: test/support/kubernetes.ts.
 * Outside CI a missing renderer skips the render with a printed reason; with
 * CI set it fails.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { findKustomize, kustomizeTargets, mountedConfigs, referenceProblems, schemaErrors, type Obj } from '../support/kubernetes.js';
import { toolGate } from '../support/prometheus.js';

const root = path.resolve(import.meta.dirname, '../..');
/** What `kubectl apply -k` takes: the base, and the overlays under it. */
const kubernetesDir = path.join(root, 'deploy/kubernetes');
/** The base's manifests. */
const dir = path.join(kubernetesDir, 'base');

/** Exporter defaults (README / src/cli/flags.ts). */
const EXPORTER = { port: 9717, metricsPath: '/metrics', healthy: '/-/healthy', ready: '/-/ready', configFile: '/app/config/exporter.yaml' };
/** The job label the alerts and the dashboard expect (prometheus-operator takes it from the Service label the ServiceMonitor's jobLabel names). */
const JOB = 'aliyun-sas-exporter';

interface Doc {
  file: string;
  obj: Obj;
}

const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
const docs: Doc[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return { file, obj: d.toJS() as Obj };
  }),
);

function one(kind: string): Obj {
  const found = docs.filter((d) => d.obj?.kind === kind);
  expect(found.length, `one ${kind}`).toBe(1);
  return found[0]!.obj;
}

function subset(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const deployment = one('Deployment');
const service = one('Service');
const serviceMonitor = one('ServiceMonitor');
const configMap = one('ConfigMap');
const secret = one('Secret');
const serviceAccount = one('ServiceAccount');
const kustomization = one('Kustomization');
const pod = deployment.spec.template;
const container = pod.spec.containers[0];

describe('manifests', () => {
  it('parse, and hold the expected kinds', () => {
    expect(files).toEqual(
      expect.arrayContaining(['configmap.yaml', 'deployment.yaml', 'kustomization.yaml', 'prometheusrule.yaml', 'secret.example.yaml', 'service.yaml', 'serviceaccount.yaml', 'servicemonitor.yaml']),
    );
    expect(docs.map((d) => d.obj.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Kustomization', 'PrometheusRule', 'Secret', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    for (const d of docs) {
      expect(d.obj.apiVersion, d.file).toBeTruthy();
      if (d.obj.kind !== 'Kustomization') expect(d.obj.metadata?.labels?.['app.kubernetes.io/name'], d.file).toBe('aliyun-sas-exporter');
    }
  });

  it('kustomization lists every manifest but the example Secret, and nothing outside its directory', () => {
    const resources: string[] = kustomization.resources;
    expect([...resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.example.yaml').sort());
    for (const r of resources) {
      expect(r, 'kustomize refuses files outside the kustomization root by default').not.toMatch(/^\.\.|^\//);
      expect(existsSync(path.join(dir, r)), r).toBe(true);
    }
    // Common labels must not rewrite selectors (a Deployment's selector is immutable).
    for (const l of kustomization.labels) expect(l.includeSelectors).toBe(false);
  });
});

describe('Deployment', () => {
  it('selects its own pods', () => {
    expect(subset(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it('exposes the exporter port as http-metrics and listens on it', () => {
    expect(container.ports).toEqual([{ name: 'http-metrics', containerPort: EXPORTER.port, protocol: 'TCP' }]);
    const listen = (container.args as string[]).find((a) => a.startsWith('--web.listen-address='));
    if (listen) expect(listen.split(':').pop()).toBe(String(EXPORTER.port));
  });

  it('probes /-/healthy (liveness) and /-/ready (readiness) on the named port', () => {
    expect(container.livenessProbe.httpGet).toEqual({ path: EXPORTER.healthy, port: 'http-metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: EXPORTER.ready, port: 'http-metrics' });
    expect(container.livenessProbe.timeoutSeconds).toBeLessThan(container.livenessProbe.periodSeconds);
  });

  it('sets resource requests and limits', () => {
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('runs locked down: non-root, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext.capabilities.add ?? []).toEqual([]);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
  });

  it('mounts the ConfigMap as a directory at /app/config, holding the file --config.file names', () => {
    const mount = container.volumeMounts.find((m: Obj) => m.mountPath === '/app/config');
    expect(mount).toMatchObject({ readOnly: true });
    expect(mount.subPath, 'subPath mounts never see ConfigMap updates').toBeUndefined();
    const volume = pod.spec.volumes.find((v: Obj) => v.name === mount.name);
    expect(volume.configMap.name).toBe(configMap.metadata.name);
    const configArg = (container.args as string[]).find((a) => a.startsWith('--config.file='));
    const configFile = configArg ? configArg.slice('--config.file='.length) : path.posix.join('/app', 'config/exporter.yaml');
    expect(configFile).toBe(EXPORTER.configFile);
    expect(Object.keys(configMap.data)).toContain(path.posix.basename(configFile));
  });

  it('takes the AccessKey from the Secret, under the default credential chain names', () => {
    const env = Object.fromEntries((container.env as Obj[]).map((e) => [e.name, e.valueFrom?.secretKeyRef]));
    for (const name of ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET']) {
      expect(env[name]?.name, name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData), name).toContain(env[name].key);
    }
    // The RRSA alternative is documented next to it.
    const text = readFileSync(path.join(dir, 'deployment.yaml'), 'utf8');
    for (const v of ['ALIBABA_CLOUD_ROLE_ARN', 'ALIBABA_CLOUD_OIDC_PROVIDER_ARN', 'ALIBABA_CLOUD_OIDC_TOKEN_FILE']) expect(text).toContain(v);
    expect(readFileSync(path.join(dir, 'serviceaccount.yaml'), 'utf8')).toContain('pod-identity.alibabacloud.com/injection');
  });

  it('uses the ServiceAccount of serviceaccount.yaml', () => {
    expect(pod.spec.serviceAccountName).toBe(serviceAccount.metadata.name);
  });
});

describe('Service and ServiceMonitor', () => {
  it('the targets get the Prometheus job the alerts use from a Service label, whatever the Service is called', () => {
    const rules = readFileSync(path.join(root, 'deploy/prometheus/rules.yml'), 'utf8');
    expect(rules).toContain(`up{job="${JOB}"}`);
    expect(serviceMonitor.spec.jobLabel).toBe('app.kubernetes.io/name');
    expect(service.metadata.labels[serviceMonitor.spec.jobLabel]).toBe(JOB);
    expect(service.metadata.name).toBe(JOB);
  });

  it('the Service selects the pods and forwards its http-metrics port to the container port', () => {
    expect(subset(service.spec.selector, pod.metadata.labels)).toBe(true);
    expect(service.spec.ports).toEqual([{ name: 'http-metrics', port: EXPORTER.port, targetPort: 'http-metrics', protocol: 'TCP' }]);
    expect(container.ports.map((p: Obj) => p.name)).toContain(service.spec.ports[0].targetPort);
  });

  it('the ServiceMonitor selects the Service and scrapes its http-metrics port at /metrics', () => {
    expect(subset(serviceMonitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
    expect(serviceMonitor.spec.endpoints).toHaveLength(1);
    const ep = serviceMonitor.spec.endpoints[0];
    expect(ep).toMatchObject({ port: service.spec.ports[0].name, path: EXPORTER.metricsPath });
    const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1]);
    expect(seconds(ep.interval)).toBe(30);
    expect(seconds(ep.scrapeTimeout)).toBeLessThan(seconds(ep.interval));
  });
});

describe('ConfigMap', () => {
  const text = configMap.data['exporter.yaml'] as string;

  it('holds a configuration the exporter accepts, with a task list', () => {
    const cfg = parseConfig(text, EXPORTER.configFile);
    expect(cfg.accounts.flatMap((a) => a.tasks).length).toBeGreaterThan(0);
  });

  it('polls on the schedule the ServiceMonitor interval is matched to', () => {
    const cfg = parse(text) as { schedule?: string };
    expect(cfg.schedule ?? '*/30 * * * * *').toBe('*/30 * * * * *');
  });
});

describe('Secret example', () => {
  it('holds placeholders only', () => {
    for (const v of Object.values(secret.stringData as Record<string, string>)) expect(v).toMatch(/^REPLACE_WITH_/);
  });
});

describe('deploy/kubernetes', () => {
  it('applies the base as it is; overlays build on base/ (kustomize refuses a base holding the overlay)', () => {
    const top = parse(readFileSync(path.join(kubernetesDir, 'kustomization.yaml'), 'utf8')) as Obj;
    expect(top.resources).toEqual(['base']);
    expect(Object.keys(top).sort()).toEqual(['apiVersion', 'kind', 'resources']);
    for (const t of kustomizeTargets(kubernetesDir).slice(1)) {
      const text = readFileSync(path.join(t.dir, 'kustomization.yaml'), 'utf8');
      expect(text, t.name).not.toMatch(/^\s*-\s*\.\.\/\.\.\/?\s*$/m);
    }
  });
});

describe('Kubernetes schemas', () => {
  it('every manifest validates (Kubernetes 1.27 and prometheus-operator CRD schemas)', async () => {
    const errors: string[] = [];
    for (const d of docs) if (d.obj.kind !== 'Kustomization') errors.push(...(await schemaErrors(d.obj)).map((e) => `${d.file}: ${e}`));
    expect(errors).toEqual([]);
  });

  it('the validator rejects a wrong type, a missing required field and an unknown kind (the check checks)', async () => {
    const wrongType = structuredClone(deployment);
    wrongType.spec.template.spec.containers[0].ports[0].containerPort = '9717';
    expect((await schemaErrors(wrongType)).join()).toMatch(/containerPort must be integer/);
    const noSelector = structuredClone(serviceMonitor);
    delete noSelector.spec.selector;
    expect((await schemaErrors(noSelector)).join()).toMatch(/selector/);
    expect((await schemaErrors({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).join()).toMatch(/no schema known/);
  });

  it('finds deploy/kubernetes and every overlay with a kustomization', () => {
    const fixture = mkdtempSync(path.join(tmpdir(), 'kustomize-targets-'));
    try {
      for (const o of ['b-group', 'a-group', 'notes']) mkdirSync(path.join(fixture, 'overlays', o), { recursive: true });
      writeFileSync(path.join(fixture, 'overlays/a-group/kustomization.yaml'), 'resources: [../../base]\n');
      writeFileSync(path.join(fixture, 'overlays/b-group/kustomization.yaml'), 'resources: [../../base]\n');
      expect(kustomizeTargets(fixture).map((t) => t.name)).toEqual(['default', 'overlays/a-group', 'overlays/b-group']);
    } finally {
      rmSync(fixture, { recursive: true, force: true });
    }
    expect(kustomizeTargets(kubernetesDir)[0]).toEqual({ name: 'default', dir: kubernetesDir });
    expect(kustomizeTargets(kubernetesDir).map((t) => t.name)).toContain('overlays/account-groups');
  });
});

const found = findKustomize();
const required = toolGate([]).required;
const skipRender = !found.renderer && !required;
if (!found.renderer) console.warn(`[kubernetes.test] ${required ? 'FAILING (CI)' : 'skipping'} the kustomize render: ${found.reason}`);
const targets = kustomizeTargets(kubernetesDir);

/** The renderer, or a failure saying why there is none (reached only in CI: elsewhere the tests skip). */
function renderer() {
  if (!found.renderer) throw new Error(`${found.reason} (required in CI)`);
  return found.renderer;
}

describe.skipIf(skipRender).each(targets)('kustomize render: $name', ({ name, dir: target }) => {
  let rendered: Obj[] | undefined;
  const render = () => (rendered ??= renderer().render(target));

  it(`renders (${found.renderer?.name ?? 'no renderer'}), every object valid against its schema`, async () => {
    const objs = render();
    expect(objs.length).toBeGreaterThan(0);
    const errors: string[] = [];
    for (const o of objs) errors.push(...(await schemaErrors(o)));
    expect(errors).toEqual([]);
  });

  it('references resolve: selectors, ServiceAccount, ConfigMap volumes, named ports, ServiceMonitor to Service', () => {
    expect(referenceProblems(render())).toEqual([]);
  });

  it('every Deployment finds its --config.file in a mounted ConfigMap, and the exporter accepts it', () => {
    const configs = mountedConfigs(render(), EXPORTER.configFile);
    expect(configs.length).toBeGreaterThan(0);
    for (const c of configs) {
      expect(c.text, `${c.deployment}: ${c.file}`).toBeDefined();
      expect(parseConfig(c.text!, c.file).accounts.flatMap((a) => a.tasks).length, c.deployment).toBeGreaterThan(0);
    }
  });

  it('loads the rules once, and scrapes every exporter under the job the alerts use', () => {
    const objs = render();
    expect(objs.filter((o) => o.kind === 'PrometheusRule').map((o) => o.metadata.name)).toEqual(['aliyun-sas-exporter']);
    for (const m of objs.filter((o) => o.kind === 'ServiceMonitor')) {
      const svc = objs.find((o) => o.kind === 'Service' && Object.entries(m.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => o.metadata.labels?.[k] === v))!;
      expect(m.spec.jobLabel, m.metadata.name).toBe('app.kubernetes.io/name');
      expect(svc.metadata.labels[m.spec.jobLabel], m.metadata.name).toBe(JOB);
    }
  });

  it('several exporters in one render poll different accounts (names unique across them), each in the accounts form', () => {
    const configs = mountedConfigs(render(), EXPORTER.configFile).map((c) => ({ ...c, cfg: parseConfig(c.text!, c.file) }));
    if (configs.length < 2) return;
    for (const c of configs) expect(c.cfg.multiAccount, `${c.deployment}: the alerts of several exporters tell them apart by account`).toBe(true);
    const names = configs.flatMap((c) => c.cfg.accounts.map((a) => a.name));
    expect(new Set(names).size, names.join(', ')).toBe(names.length);
  });

  if (name === 'overlays/account-groups') {
    it('the example: two account groups, each its own Deployment, ServiceAccount and credentials; platform highly available', () => {
      const objs = render();
      const deployments = Object.fromEntries(objs.filter((o) => o.kind === 'Deployment').map((d) => [d.metadata.name as string, d]));
      expect(Object.keys(deployments).sort()).toEqual(['aliyun-sas-exporter-finance', 'aliyun-sas-exporter-platform']);
      const finance = deployments['aliyun-sas-exporter-finance']!;
      const platform = deployments['aliyun-sas-exporter-platform']!;
      expect(finance.spec.replicas).toBe(1);
      expect(platform.spec.replicas).toBe(2);
      // Every account's key pair comes from the environment variables its configuration names, from the group's own Secret.
      const configs = Object.fromEntries(mountedConfigs(objs, EXPORTER.configFile).map((c) => [c.deployment, parseConfig(c.text!, c.file)]));
      const env = (finance.spec.template.spec.containers[0].env as Obj[]).map((e) => [e.name, e.valueFrom.secretKeyRef.name]);
      const named = configs['aliyun-sas-exporter-finance']!.accounts.flatMap((a) => [a.credentials?.env?.accessKeyId, a.credentials?.env?.accessKeySecret]);
      expect(env.map(([n]) => n).sort()).toEqual([...named].sort());
      expect(new Set(env.map(([, secret]) => secret))).toEqual(new Set(['aliyun-sas-exporter-finance-credentials']));
      // RRSA: no AccessKey in the pod; the pod's role assumes each account's role.
      expect(platform.spec.template.spec.containers[0].env).toBeUndefined();
      expect(configs['aliyun-sas-exporter-platform']!.accounts.every((a) => a.credentials?.role !== undefined)).toBe(true);
      const sa = objs.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === platform.spec.template.spec.serviceAccountName)!;
      expect(sa.metadata.annotations['pod-identity.alibabacloud.com/role-name']).toBeTruthy();
      expect(new Set(Object.values(deployments).map((d) => d.spec.template.spec.serviceAccountName)).size).toBe(2);
      // HA: a disruption budget keeps one replica, spread over nodes.
      const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget')!;
      expect(pdb.spec.minAvailable).toBe(1);
      expect(pdb.spec.selector.matchLabels['app.kubernetes.io/instance']).toBe('platform');
      expect(platform.spec.template.spec.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual(
        Object.fromEntries(Object.entries(platform.spec.selector.matchLabels as Record<string, string>).filter(([k]) => k !== 'app.kubernetes.io/component')),
      );
    });
  }

  if (name === 'default') {
    it('holds the expected objects, with the common labels on every one and selectors left alone', () => {
      const objs = render();
      expect(objs.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor']);
      for (const o of objs) expect(o.metadata.labels['app.kubernetes.io/part-of'], o.kind).toBe('aliyun-sas-exporter');
      const dep = objs.find((o) => o.kind === 'Deployment')!;
      expect(dep.spec.selector.matchLabels['app.kubernetes.io/part-of']).toBeUndefined();
      expect(objs.find((o) => o.kind === 'Service')!.metadata.name).toBe(JOB);
    });
  }
});

describe.skipIf(skipRender)('kustomize render: an overlay of the base', () => {
  const overlay = mkdtempSync(path.join(tmpdir(), 'kustomize-overlay-'));
  afterAll(() => rmSync(overlay, { recursive: true, force: true }));

  it('renames every object and keeps every reference resolved (what the checks above apply to each overlay)', async () => {
    // kustomize takes only relative paths to a base.
    writeFileSync(path.join(overlay, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnameSuffix: -group-a\nresources:\n  - ${path.relative(overlay, dir)}\n`);
    const objs = renderer().render(overlay);
    expect(objs.every((o) => (o.metadata.name as string).endsWith('-group-a'))).toBe(true);
    for (const o of objs) expect(await schemaErrors(o)).toEqual([]);
    expect(referenceProblems(objs)).toEqual([]);
    expect(mountedConfigs(objs, EXPORTER.configFile).map((c) => c.text !== undefined)).toEqual([true]);
    // And the reference checks do catch a broken one.
    const broken = structuredClone(objs);
    broken.find((o) => o.kind === 'ConfigMap')!.metadata.name = 'elsewhere';
    expect(referenceProblems(broken).join()).toMatch(/ConfigMap aliyun-sas-exporter-config-group-a not in the render/);
  });
});
