/**
 * Kubernetes manifests for tests: render a kustomization with a real
 * renderer, validate objects against the Kubernetes schemas, and check that
 * the references between the objects of one render resolve.
 *
 * Renderer: a standalone `kustomize`, or `kubectl kustomize`, either with
 * kustomize v5 or newer (Debian 12's kubernetes-client is kubectl 1.20 with
 * kustomize v2, which rejects the kustomization's `labels:`: too old).
 *
 * Schemas: kubernetes-models (the Kubernetes 1.27 OpenAPI schemas) and
 * @kubernetes-models/prometheus-operator (the CRD schemas of ServiceMonitor,
 * PrometheusRule, ...), compiled JSON-schema validators. They check types,
 * required fields, enums and formats; like the API server without strict
 * field validation, they do not reject unknown fields.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Oldest kustomize accepted: the one the manifests were written and tested with is v5.5. */
export const MIN_KUSTOMIZE_MAJOR = 5;

export interface Renderer {
  /** e.g. `kubectl kustomize (kustomize v5.5.0)` */
  readonly name: string;
  render(dir: string): Obj[];
}

function versionOf(text: string): [number, number, string] | undefined {
  const m = /v(\d+)\.(\d+)\.\d+/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), m[0]] : undefined;
}

function renderWith(command: string, args: (dir: string) => string[]): (dir: string) => Obj[] {
  return (dir) => {
    const r = spawnSync(command, args(dir), { encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`${command} ${args(dir).join(' ')} exited ${r.status}:\n${r.stderr}`);
    return parseAllDocuments(r.stdout).map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Obj;
    });
  };
}

/** The first usable renderer, or why there is none. */
export function findKustomize(env: NodeJS.ProcessEnv = process.env): { renderer?: Renderer; reason: string } {
  const tried: string[] = [];
  const standalone = spawnSync('kustomize', ['version'], { encoding: 'utf8', env, timeout: 20_000 });
  if (!standalone.error && standalone.status === 0) {
    const v = versionOf(standalone.stdout);
    if (v && v[0] >= MIN_KUSTOMIZE_MAJOR) return { renderer: { name: `kustomize ${v[2]}`, render: renderWith('kustomize', (dir) => ['build', dir]) }, reason: '' };
    tried.push(`kustomize ${v?.[2] ?? '(unknown version)'} is older than v${MIN_KUSTOMIZE_MAJOR}`);
  } else tried.push('no kustomize');
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', env, timeout: 20_000 });
  if (!kubectl.error && kubectl.status === 0) {
    const line = /Kustomize Version: (\S+)/.exec(kubectl.stdout);
    const v = line ? versionOf(line[1]!) : undefined;
    if (v && v[0] >= MIN_KUSTOMIZE_MAJOR) return { renderer: { name: `kubectl kustomize (kustomize ${v[2]})`, render: renderWith('kubectl', (dir) => ['kustomize', dir]) }, reason: '' };
    tried.push(`kubectl embeds kustomize ${v?.[2] ?? '(too old to say)'}, older than v${MIN_KUSTOMIZE_MAJOR}`);
  } else tried.push('no kubectl');
  return {
    reason: `no kustomize v${MIN_KUSTOMIZE_MAJOR}+ renderer (${tried.join('; ')}): install kubectl 1.27 or newer, or kustomize v5 (Debian 12's kubernetes-client is too old)`,
  };
}

/**
 * The kustomizations to render under `root` (deploy/kubernetes): root itself
 * (what `kubectl apply -k deploy/kubernetes` applies: the base), then every
 * overlays/<name>/ holding a kustomization. Overlays build on root/base/, not
 * on root: kustomize refuses a base whose directory holds the overlay.
 */
export function kustomizeTargets(root: string): { name: string; dir: string }[] {
  const out = [{ name: 'default', dir: root }];
  const overlays = path.join(root, 'overlays');
  if (existsSync(overlays)) {
    for (const e of readdirSync(overlays, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory() && ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((f) => existsSync(path.join(overlays, e.name, f)))) {
        out.push({ name: `overlays/${e.name}`, dir: path.join(overlays, e.name) });
      }
    }
  }
  return out;
}

/** Module of the schema models for an API group (the core group is ''). */
const MODEL_PACKAGES: Record<string, string> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator/monitoring.coreos.com',
};

type Model = new (data: Obj) => { validate(): void };

async function modelOf(apiVersion: string, kind: string): Promise<Model | undefined> {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  const module = group === '' ? `kubernetes-models/${version}` : `${MODEL_PACKAGES[group] ?? `kubernetes-models/${group}`}/${version}`;
  try {
    const mod = (await import(module)) as Record<string, unknown>;
    return mod[kind] as Model | undefined;
  } catch {
    return undefined;
  }
}

/** Schema errors of one object; empty when valid. An apiVersion/kind without a schema is an error. */
export async function schemaErrors(obj: Obj): Promise<string[]> {
  const id = `${obj?.kind ?? '?'} ${obj?.metadata?.name ?? '?'}`;
  if (typeof obj?.apiVersion !== 'string' || typeof obj?.kind !== 'string') return [`${id}: no apiVersion or kind`];
  const Model = await modelOf(obj.apiVersion, obj.kind);
  if (!Model) return [`${id}: no schema known for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (err) {
    return [`${id}: ${(err as Error).message}`];
  }
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * References inside one render that must resolve: Deployment selectors,
 * ConfigMap volumes, ServiceAccounts, probe and Service target ports,
 * PodDisruptionBudget and ServiceMonitor selectors, ServiceMonitor ports,
 * unique names. Objects meant to come
 * from elsewhere (the credentials Secret) are not required. Returns the
 * problems found.
 */
export function referenceProblems(objs: Obj[]): string[] {
  const problems: string[] = [];
  const of = (kind: string) => objs.filter((o) => o.kind === kind);
  const names = new Map<string, number>();
  for (const o of objs) {
    const key = `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
    names.set(key, (names.get(key) ?? 0) + 1);
  }
  for (const [key, n] of names) if (n > 1) problems.push(`${key} defined ${n} times`);

  const deployments = of('Deployment');
  for (const d of deployments) {
    const id = `Deployment ${d.metadata.name}`;
    const pod = d.spec.template;
    if (!selects(d.spec.selector?.matchLabels, pod.metadata?.labels)) problems.push(`${id}: selector does not match its pod labels`);
    const sa = pod.spec.serviceAccountName;
    if (sa && !of('ServiceAccount').some((s) => s.metadata.name === sa)) problems.push(`${id}: ServiceAccount ${sa} not in the render`);
    for (const v of pod.spec.volumes ?? []) {
      if (v.configMap && !of('ConfigMap').some((c) => c.metadata.name === v.configMap.name)) problems.push(`${id}: volume ${v.name}: ConfigMap ${v.configMap.name} not in the render`);
    }
    const portNames = new Set<string>(pod.spec.containers.flatMap((c: Obj) => (c.ports ?? []).map((p: Obj) => p.name)));
    for (const c of pod.spec.containers) {
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const port = c[probe]?.httpGet?.port;
        if (typeof port === 'string' && !portNames.has(port)) problems.push(`${id}: ${probe} port ${port} is not a container port`);
      }
    }
  }
  const services = of('Service');
  for (const s of services) {
    const pods = deployments.filter((d) => selects(s.spec.selector, d.spec.template.metadata?.labels));
    if (pods.length !== 1) problems.push(`Service ${s.metadata.name}: selects the pods of ${pods.length} Deployments, expected 1`);
    for (const p of s.spec.ports ?? []) {
      if (typeof p.targetPort !== 'string') continue;
      for (const d of pods) {
        if (!d.spec.template.spec.containers.some((c: Obj) => (c.ports ?? []).some((cp: Obj) => cp.name === p.targetPort))) {
          problems.push(`Service ${s.metadata.name}: targetPort ${p.targetPort} is not a port of Deployment ${d.metadata.name}`);
        }
      }
    }
  }
  for (const b of of('PodDisruptionBudget')) {
    const pods = deployments.filter((d) => selects(b.spec.selector?.matchLabels, d.spec.template.metadata?.labels));
    if (pods.length !== 1) problems.push(`PodDisruptionBudget ${b.metadata.name}: selects the pods of ${pods.length} Deployments, expected 1`);
  }
  for (const m of of('ServiceMonitor')) {
    const selected = services.filter((s) => selects(m.spec.selector?.matchLabels, s.metadata.labels));
    if (selected.length !== 1) problems.push(`ServiceMonitor ${m.metadata.name}: selects ${selected.length} Services, expected 1`);
    for (const ep of m.spec.endpoints ?? []) {
      for (const s of selected) {
        if (!(s.spec.ports ?? []).some((p: Obj) => p.name === ep.port)) problems.push(`ServiceMonitor ${m.metadata.name}: port ${ep.port} is not a port of Service ${s.metadata.name}`);
      }
    }
  }
  return problems;
}

/**
 * For each Deployment, the configuration file its --config.file names, read
 * from the ConfigMap mounted at that path (as the pod would see it).
 */
export function mountedConfigs(objs: Obj[], defaultConfigFile: string): { deployment: string; file: string; text: string | undefined }[] {
  return objs
    .filter((o) => o.kind === 'Deployment')
    .flatMap((d) =>
      (d.spec.template.spec.containers as Obj[]).map((c) => {
        const arg = ((c.args ?? []) as string[]).find((a) => a.startsWith('--config.file='));
        const file = arg ? arg.slice('--config.file='.length) : defaultConfigFile;
        const mount = ((c.volumeMounts ?? []) as Obj[]).find((m) => path.posix.dirname(file) === m.mountPath);
        const volume = mount && (d.spec.template.spec.volumes as Obj[]).find((v) => v.name === mount.name);
        const configMap = volume?.configMap && objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap.name);
        return { deployment: d.metadata.name as string, file, text: configMap?.data?.[path.posix.basename(file)] as string | undefined };
      }),
    );
}
