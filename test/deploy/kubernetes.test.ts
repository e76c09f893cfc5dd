/**
 * deploy/kubernetes: every manifest parses, and ports, probe paths, names,
 * selectors and the security context agree with the exporter's defaults and
 * with each other.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = path.join(root, 'deploy/kubernetes');

/** Exporter defaults (README / src/cli/flags.ts). */
const EXPORTER = { port: 9717, metricsPath: '/metrics', healthy: '/-/healthy', ready: '/-/ready', configFile: '/app/config/exporter.yaml' };
/** The job label the alerts and the dashboard expect (prometheus-operator takes it from the Service name). */
const JOB = 'aliyun-sas-exporter';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

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
  it('the Service is named after the Prometheus job the alerts use', () => {
    expect(service.metadata.name).toBe(JOB);
    const rules = readFileSync(path.join(root, 'deploy/prometheus/rules.yml'), 'utf8');
    expect(rules).toContain(`up{job="${JOB}"}`);
    expect(serviceMonitor.spec.jobLabel, 'jobLabel would change the job label').toBeUndefined();
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
    expect(cfg.tasks.length).toBeGreaterThan(0);
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

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const hasKubectl = !kubectl.error && kubectl.status === 0;
if (!hasKubectl) console.warn('[kubernetes.test] kubectl not found: skipping `kubectl kustomize` (optional, also outside CI)');

describe.skipIf(!hasKubectl)('kubectl kustomize', () => {
  it('builds, with the common labels on every object', () => {
    const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    expect(objs.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    for (const o of objs) expect(o.metadata.labels['app.kubernetes.io/part-of'], o.kind).toBe('aliyun-sas-exporter');
    const dep = objs.find((o) => o.kind === 'Deployment')!;
    expect(dep.spec.selector.matchLabels['app.kubernetes.io/part-of']).toBeUndefined();
  });
});
