/**
 * The Dockerfile, read statically (no Docker engine here): what it copies
 * exists, the runtime stage is non-root with production dependencies only,
 * and its port, health check and entry point match the exporter.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; type: string };
const tsconfig = JSON.parse(readFileSync(path.join(root, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buf && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (buf && line.trim().startsWith('#')) return;
    if (!buf) start = i + 1;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1)} `;
      return;
    }
    buf += line;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(buf);
    if (m) instructions.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = '';
  });
  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ from: m?.[1] ?? ins.args, name: m?.[2], instructions: [] });
    } else if (stages.length === 0) {
      args.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { args, stages };
}

function copyParts(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (!w.startsWith('--')) rest.push(w);
  }
  return { from, sources: rest.slice(0, -1), dest: rest[rest.length - 1]! };
}

const text = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const { args: globalArgs, stages } = parseDockerfile(text);
const final = stages[stages.length - 1]!;
const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);
const workdir = (s: Stage) => ops(s, 'WORKDIR').at(-1)?.args ?? '/';
const dockerignore = readFileSync(path.join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('is multi-stage on node:22-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const imageArg = globalArgs.find((a) => a.op === 'ARG' && a.args.startsWith('NODE_IMAGE='));
    expect(imageArg?.args).toBe('NODE_IMAGE=node:22-bookworm-slim');
    for (const s of stages) expect(s.from === '${NODE_IMAGE}' || s.from.startsWith('node:22-bookworm-slim'), s.from).toBe(true);
  });

  it('builds with npm ci and npm run build', () => {
    const build = stages.find((s) => s.name === 'build')!;
    const runs = ops(build, 'RUN').map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });

  it('copies only files that exist in the repository and are not .dockerignored', () => {
    for (const s of stages) {
      for (const c of ops(s, 'COPY').map((i) => copyParts(i.args))) {
        if (c.from) continue;
        for (const src of c.sources) {
          expect(existsSync(path.join(root, src)), `COPY ${src}`).toBe(true);
          const top = src.replace(/^\.\//, '').split('/')[0]!;
          expect(dockerignore, `.dockerignore excludes ${src}`).not.toContain(top);
        }
      }
    }
  });

  it('copies from other stages only what they build: dist/ from npm run build, node_modules from npm ci', () => {
    const copies = ops(final, 'COPY').map((i) => copyParts(i.args)).filter((c) => c.from);
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const stage = stages.find((s) => s.name === c.from);
      expect(stage, `stage ${c.from}`).toBeDefined();
      for (const src of c.sources) {
        const rel = path.posix.relative(workdir(stage!), src);
        const runs = ops(stage!, 'RUN').map((r) => r.args);
        if (rel === tsconfig.compilerOptions.outDir) expect(runs.some((r) => /npm run build/.test(r)), src).toBe(true);
        else if (rel === 'node_modules') expect(runs.some((r) => /npm ci/.test(r)), src).toBe(true);
        else throw new Error(`COPY --from=${c.from} ${src}: not a known build output`);
      }
    }
  });

  it('ships production dependencies only', () => {
    const nm = ops(final, 'COPY').map((i) => copyParts(i.args)).find((c) => c.sources.some((s) => s.endsWith('node_modules')));
    const fromStage = nm?.from ? stages.find((s) => s.name === nm.from)! : final;
    const install = ops(fromStage, 'RUN').map((r) => r.args).find((r) => /npm ci/.test(r));
    expect(install).toMatch(/--omit=dev/);
    expect(ops(final, 'RUN').map((r) => r.args).filter((r) => /npm (ci|install)\b/.test(r) && !/--omit=dev/.test(r))).toEqual([]);
  });

  it('ships package.json, which makes dist/ ES modules and gives the version', () => {
    expect(pkg.type).toBe('module');
    const plain = ops(final, 'COPY').map((i) => copyParts(i.args)).filter((c) => !c.from);
    expect(plain.flatMap((c) => c.sources)).toContain('package.json');
  });

  it('runs as a non-root user with NODE_ENV=production', () => {
    const user = ops(final, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    const name = user!.split(':')[0]!;
    expect(['root', '0']).not.toContain(name);
    expect(ops(final, 'ENV').map((e) => e.args).join(' ')).toMatch(/NODE_ENV=production/);
    // Nothing after USER may write into the image as root for later runtime use.
    const afterUser = final.instructions.slice(final.instructions.findIndex((i) => i.op === 'USER'));
    expect(afterUser.filter((i) => i.op === 'RUN')).toEqual([]);
  });

  it('exposes 9717 and health-checks /-/healthy with node', () => {
    expect(ops(final, 'EXPOSE').map((e) => e.args)).toEqual(['9717']);
    const hc = ops(final, 'HEALTHCHECK')[0]?.args ?? '';
    expect(hc).toContain('/-/healthy');
    expect(hc).toContain('127.0.0.1:9717');
    const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    expect(cmd[0]).toBe('node');
    expect(() => new Function(cmd[2]!)).not.toThrow();
  });

  it('has the OCI labels', () => {
    const labels = ops(final, 'LABEL').map((l) => l.args).join(' ');
    for (const k of ['title', 'description', 'source', 'licenses', 'version', 'revision', 'created']) expect(labels).toContain(`org.opencontainers.image.${k}=`);
  });

  it('starts the package bin with node, from /app', () => {
    const entry = JSON.parse(ops(final, 'ENTRYPOINT').at(-1)!.args) as string[];
    expect(entry).toEqual(['node', pkg.bin['aliyun-sas-exporter']]);
    expect(entry[1]).toBe('dist/src/main.js');
    // tsc's rootDir '.' + outDir 'dist' put src/main.ts at dist/src/main.js.
    expect(path.posix.join(tsconfig.compilerOptions.outDir, 'src/main.js')).toBe(entry[1]);
    expect(existsSync(path.join(root, 'src/main.ts'))).toBe(true);
    expect(workdir(final)).toBe('/app');
  });
});
