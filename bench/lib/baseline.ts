/**
 * The static-file baseline: the same bytes the exporter answers, served by
 * nginx from files (gzip_static for the gzip case) when nginx is installed,
 * else by a minimal node:http server holding the buffers. Named as such in
 * the report.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findExecutable, freePort, get, sleep } from './tools.js';

export interface Baseline {
  readonly kind: 'nginx' | 'node-static';
  readonly description: string;
  readonly url: string;
  stop(): Promise<void>;
}

export interface BaselineBytes {
  readonly plain: Buffer;
  readonly gzip: Buffer;
  readonly contentType: string;
}

export function nginxAvailable(): { bin: string; version: string } | undefined {
  const bin = findExecutable('nginx');
  if (!bin) return undefined;
  const v = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  const version = /nginx\/([\w.]+)/.exec(`${v.stderr}${v.stdout}`)?.[1];
  return version ? { bin, version } : undefined;
}

export async function startBaseline(bytes: BaselineBytes, force?: 'nginx' | 'node'): Promise<Baseline> {
  const nginx = force === 'node' ? undefined : nginxAvailable();
  if (nginx) return startNginx(nginx.bin, nginx.version, bytes);
  return startNodeStatic(bytes, force === 'node' ? 'forced by --baseline=node' : 'fallback: nginx not installed');
}

async function startNginx(bin: string, version: string, bytes: BaselineBytes): Promise<Baseline> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sas-bench-nginx-'));
  const www = path.join(dir, 'www');
  mkdirSync(www);
  // gzip_static answers /metrics from metrics.gz when the client accepts gzip.
  writeFileSync(path.join(www, 'metrics'), bytes.plain);
  writeFileSync(path.join(www, 'metrics.gz'), bytes.gzip);
  for (const p of [dir, www]) chmodSync(p, 0o755);
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  // One worker: the exporter is one Node.js thread; sendfile as nginx ships it.
  const conf = `
${asRoot ? 'user root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000;
  gzip off;
  etag off;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location = /metrics {
      default_type "${bytes.contentType}";
      gzip_static on;
      gzip_vary on;
      add_header Cache-Control no-store;
    }
  }
}
`;
  const confFile = path.join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const proc: ChildProcess = spawn(bin, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', confFile, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const exit = new Promise<void>((r) => proc.on('exit', () => ((exited = true), r())));
  const url = `http://127.0.0.1:${port}/metrics`;
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`nginx exited at start: ${stderr}`);
    try {
      const r = await get(url, {}, 2_000);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 100) throw new Error(`nginx did not answer on ${url}: ${stderr}`);
    await sleep(50);
  }
  return {
    kind: 'nginx',
    description: `nginx ${version} static file (1 worker, sendfile, gzip_static)`,
    url,
    async stop() {
      if (exited) return;
      proc.kill('SIGQUIT');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(t);
    },
  };
}

async function startNodeStatic(bytes: BaselineBytes, why: string): Promise<Baseline> {
  const server = http.createServer((req, res) => {
    const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gz ? bytes.gzip : bytes.plain;
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': bytes.contentType, 'Content-Length': body.length, Vary: 'Accept-Encoding' };
    if (gz) headers['Content-Encoding'] = 'gzip';
    res.writeHead(200, headers);
    res.end(body);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    kind: 'node-static',
    description: `minimal node:http static server of the same bytes (${why})`,
    url: `http://127.0.0.1:${port}/metrics`,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
