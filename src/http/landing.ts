/**
 * The landing page: what an operator opens first. Rendered per request, by
 * a pure function, from the ExporterStatus the pipeline provides (built
 * once per snapshot, so a page view costs O(accounts), never the task
 * series). Static HTML and one inline style sheet: the page works under
 * `default-src 'none'; style-src 'unsafe-inline'`, loads nothing and runs no
 * script. Every string that comes from the configuration or the API is
 * escaped.
 */
import type { AccountStatus, ExporterStatus, LatestScanSummary } from '../model/status.js';
import { TASK_STATUSES, type TaskStatus } from '../model/vocabulary.js';

export interface LandingOptions {
  /** The telemetry path (--web.telemetry-path). */
  readonly telemetryPath: string;
  /** Where the documentation lives (package.json `homepage`); without it the page names the README. */
  readonly documentationUrl?: string;
}

/** HTML-escapes text for element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const esc = escapeHtml;

const NUMBER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** 1,234 */
function num(n: number): string {
  return NUMBER.format(n);
}

/** 2025-01-31 12:34:56 UTC */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A length of time, two units at most: 350 ms, 1.2 s, 4 min 3 s, 3 h 12 min, 2 d 4 h. */
export function span(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0).replace(/\.0$/, '')} s`;
  const s = Math.floor(ms / 1000);
  const pairs: [number, string, number, string][] = [
    [86_400, 'd', 3600, 'h'],
    [3600, 'h', 60, 'min'],
    [60, 'min', 1, 's'],
  ];
  for (const [big, bigUnit, small, smallUnit] of pairs) {
    if (s >= big) {
      const rest = Math.floor((s % big) / small);
      return `${Math.floor(s / big)} ${bigUnit}${rest ? ` ${rest} ${smallUnit}` : ''}`;
    }
  }
  return `${s} s`;
}

/** 3 s ago; "just now" under a second (clocks never run backwards on the page). */
function ago(at: number, now: number): string {
  return now - at < 1000 ? 'just now' : `${span(now - at)} ago`;
}

type Tone = 'ok' | 'info' | 'warn' | 'bad' | 'idle';

function badge(tone: Tone, text: string): string {
  return `<span class="badge ${tone}">${esc(text)}</span>`;
}

function chip(tone: Tone, text: string): string {
  return `<span class="chip ${tone}">${esc(text)}</span>`;
}

const STATUS_TONE: Record<TaskStatus, Tone> = { init: 'idle', processing: 'info', success: 'ok', failed: 'bad', unknown: 'warn' };
const CYCLE_TONE = { success: 'ok', partial: 'warn', failure: 'bad' } as const;
const SCAN_TONE = { pending: 'idle', running: 'info', complete: 'ok', unknown: 'warn' } as const;
const RISK_TONE = { high: 'bad', medium: 'warn', low: 'info', none: 'ok', unknown: 'warn' } as const;

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;background:#f4f6f8;color:#1f2933}
header{background:#1f2933;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px;font-weight:600}
header p{margin:2px 0 0;color:#bcccdc}
.ver{font-weight:400;color:#9fb3c8;font-size:15px;margin-left:6px}
main{padding:16px 24px 24px;max-width:1280px}
h2{font-size:16px;margin:22px 0 8px}
.banner{background:#fff3c4;border:1px solid #f0b429;border-radius:6px;padding:8px 12px;margin:0 0 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:10px 14px}
.card h3{margin:0 0 4px;font-size:12px;font-weight:600;letter-spacing:.04em;text-transform:uppercase;color:#627d98}
.big{font-size:22px;font-weight:600;margin:0}
.card p{margin:2px 0}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d9e2ec}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f0f4f8;font-size:12px;font-weight:600;color:#486581;text-transform:uppercase;letter-spacing:.03em}
td.n{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.chip{display:inline-block;margin:0 4px 3px 0;padding:0 6px;border-radius:4px;font-size:12px;border:1px solid transparent}
.ok{background:#e3f9e5;color:#0e5814;border-color:#a3d9a5}
.info{background:#e6f6ff;color:#035388;border-color:#b3ecff}
.warn{background:#fff3c4;color:#8d2b0b;border-color:#f7d070}
.bad{background:#ffe3e3;color:#a61b1b;border-color:#ffbdbd}
.idle{background:#f0f4f8;color:#52606d;border-color:#d9e2ec}
small,.muted{color:#627d98}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
a{color:#0b69a3}
ul.links{margin:0;padding-left:20px}
footer{margin-top:24px;color:#829ab1;font-size:12px}
`;

function layout(body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>aliyun-sas-exporter</title>
<style>${STYLE}</style></head>
<body>
${body}
</body></html>
`;
}

function links(o: LandingOptions): string {
  const p = esc(o.telemetryPath);
  const docs = o.documentationUrl
    ? `<li><a href="${esc(o.documentationUrl)}">Documentation</a>: configuration, metrics, alerts, troubleshooting</li>`
    : `<li>Documentation: <code>README.md</code> of the exporter's package (configuration, metrics, alerts, troubleshooting)</li>`;
  return `<ul class="links">
<li><a href="${p}">${p}</a> the metrics, for Prometheus (text format, or OpenMetrics when asked for)</li>
<li><a href="/-/healthy">/-/healthy</a> liveness</li>
<li><a href="/-/ready">/-/ready</a> readiness</li>
${docs}
</ul>`;
}

function header(version?: string): string {
  return `<header><h1>aliyun-sas-exporter${version ? `<span class="ver">${esc(version)}</span>` : ''}</h1><p>Prometheus exporter for Alibaba Cloud Security Center virus scans</p></header>`;
}

/**
 * The page. Without a status (a server without a pipeline, as in the
 * benchmark) it holds the links only.
 */
export function renderLandingPage(s: ExporterStatus | undefined, o: LandingOptions): string {
  if (!s) return layout(`${header()}\n<main>\n<h2>Endpoints</h2>\n${links(o)}\n</main>`);
  const parts: string[] = [header(s.version), '<main>'];
  if (s.demo) parts.push('<p class="banner"><strong>Demo mode:</strong> polling the built-in simulator of the Security Center API, not Alibaba Cloud.</p>');
  parts.push(cards(s), accountsTable(s), attentionTable(s), `<h2>Endpoints</h2>\n${links(o)}`, footer(s), '</main>');
  return layout(parts.join('\n'));
}

function cards(s: ExporterStatus): string {
  const r = s.readiness;
  const ready = r.ready
    ? `<p class="big">${badge('ok', 'Ready')}</p><p>${num(r.answered)} of ${num(r.total)} tasks and latest scans answered</p>`
    : `<p class="big">${badge('warn', 'Not ready')}</p><p>${num(r.answered)} of ${num(r.total)} tasks and latest scans answered; ready when all are, or ${esc(span(r.timeoutMs))} after start</p>`;
  const total = (f: (a: AccountStatus) => number) => s.accounts.reduce((n, a) => n + f(a), 0);
  const tasks = total((a) => a.tasks.total);
  const failing = total((a) => a.tasks.pollsFailing);
  const failed = total((a) => a.tasks.byStatus.failed);
  const tasksCard = `<p class="big">${num(tasks)}</p><p>${s.multiAccount ? `in ${num(s.accounts.length)} account${s.accounts.length === 1 ? '' : 's'}; ` : ''}${failed ? chip('bad', `${num(failed)} failed`) : ''}${failing ? chip('bad', `${num(failing)} poll${failing === 1 ? '' : 's'} failing`) : ''}${!failed && !failing ? 'none failed, no poll failing' : ''}</p>`;
  const config = s.config.lastReloadOk
    ? `loaded ${s.config.lastSuccessAt !== undefined ? esc(ago(s.config.lastSuccessAt, s.now)) : ''}`
    : `${badge('bad', 'last reload failed')} the reason is in the exporter log; the running configuration stays`;
  return `<section class="cards">
<div class="card"><h3>Readiness</h3>${ready}</div>
<div class="card"><h3>Tasks</h3>${tasksCard}</div>
<div class="card"><h3>Up</h3><p class="big">${esc(span(s.now - s.startedAt))}</p><p>since ${esc(utc(s.startedAt))}</p></div>
<div class="card"><h3>Configuration</h3><p>Schedule <code>${esc(s.schedule)}</code></p><p>${config}</p></div>
</section>`;
}

function accountsTable(s: ExporterStatus): string {
  const scans = s.accounts.some((a) => a.latestScanEnabled);
  const head = [s.multiAccount ? '<th>Account</th>' : '', '<th>API endpoint</th><th>Tasks</th><th>Statuses</th><th>Last cycle</th><th>API calls</th>', scans ? '<th>Latest virus scan</th>' : ''].join('');
  const rows = s.accounts.map((a) => {
    const cells = [
      s.multiAccount ? `<td><strong>${esc(a.name)}</strong></td>` : '',
      `<td><code>${esc(a.endpoint)}</code>${a.region ? `<br><small>${esc(a.region)}</small>` : ''}</td>`,
      `<td class="n">${num(a.tasks.total)}${a.tasks.answered < a.tasks.total ? `<br><small>${num(a.tasks.answered)} answered</small>` : ''}</td>`,
      `<td>${statuses(a)}</td>`,
      `<td>${lastCycle(a, s.now)}</td>`,
      `<td>${apiCalls(a)}</td>`,
      scans ? `<td>${a.latestScanEnabled ? latestScan(a.latestScan ?? {}, s.now) : '<span class="muted">not enabled</span>'}</td>` : '',
    ];
    return `<tr>${cells.join('')}</tr>`;
  });
  return `<h2>${s.multiAccount ? 'Accounts' : 'Polling'}</h2>
<table><thead><tr>${head}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

function statuses(a: AccountStatus): string {
  const t = a.tasks;
  const out = TASK_STATUSES.filter((st) => t.byStatus[st] > 0).map((st) => chip(STATUS_TONE[st], `${st} ${num(t.byStatus[st])}`));
  if (t.noStatus > 0) out.push(chip('idle', `no status yet ${num(t.noStatus)}`));
  if (t.pollsFailing > 0) out.push(chip('bad', `polls failing ${num(t.pollsFailing)}`));
  return out.length > 0 ? out.join('') : '<span class="muted">no tasks</span>';
}

function lastCycle(a: AccountStatus, now: number): string {
  const c = a.lastCycle;
  const skipped = a.skippedTicks > 0 ? `<br><small>${num(a.skippedTicks)} tick${a.skippedTicks === 1 ? '' : 's'} skipped</small>` : '';
  if (!c) return `${badge('idle', 'none finished yet')}${skipped}`;
  return `${badge(CYCLE_TONE[c.result], c.result)} ${esc(ago(c.finishedAt, now))}<br><small>${esc(utc(c.finishedAt))}, took ${esc(span(c.durationMs))}, ${num(c.apiCalls)} call${c.apiCalls === 1 ? '' : 's'}</small>${skipped}`;
}

function apiCalls(a: AccountStatus): string {
  const rate = a.rateLimitQps !== undefined ? `<br><small>rate limit ${num(a.rateLimitQps)} qps</small>` : '';
  const calls = `${num(a.apiCalls)} call${a.apiCalls === 1 ? '' : 's'}`;
  if (a.apiErrors === 0) return `${calls}, <small>no error</small>${rate}`;
  const codes = a.errorCodes.map((c) => chip('bad', `${c.code} ×${num(c.count)}`)).join('');
  return `${calls}, ${badge('bad', `${num(a.apiErrors)} error${a.apiErrors === 1 ? '' : 's'}`)}<br>${codes}${rate}`;
}

function latestScan(l: LatestScanSummary, now: number): string {
  if (l.lastPollOk === undefined) return '<span class="muted">not polled yet</span>';
  if (l.lastPollOk === false) return `${badge('bad', 'poll failing')} ${chip('bad', l.pollError ?? 'error')}${l.status ? `<br><small>last known: ${esc(l.status)}</small>` : ''}`;
  if (!l.status) return '<span class="muted">no scan known</span>';
  const progress = l.progressPercent !== undefined ? ` ${num(l.progressPercent)} %` : '';
  const m: string[] = [];
  if (l.machinesScanned !== undefined) m.push(`${num(l.machinesScanned)} machines`);
  if (l.machinesComplete !== undefined) m.push(`${num(l.machinesComplete)} complete`);
  if (l.machinesUncomplete) m.push(`${num(l.machinesUncomplete)} not complete`);
  const suspicious = l.machinesSuspicious ? chip('bad', `${num(l.machinesSuspicious)} suspicious`) : '';
  const risk = l.riskLevel && l.riskLevel !== 'none' ? chip(RISK_TONE[l.riskLevel], `risk ${l.riskLevel}`) : '';
  const when = l.scanTimeMs !== undefined ? `<br><small>started ${esc(ago(l.scanTimeMs, now))}</small>` : '';
  return `${badge(SCAN_TONE[l.status], l.status)}${progress}${m.length ? `<br><small>${esc(m.join(', '))}</small>` : ''}${suspicious || risk ? `<br>${suspicious}${risk}` : ''}${when}`;
}

function attentionTable(s: ExporterStatus): string {
  const rows: string[] = [];
  let more = 0;
  for (const a of s.accounts) {
    more += a.attentionMore;
    for (const t of a.attention) {
      rows.push(
        `<tr>${s.multiAccount ? `<td>${esc(a.name)}</td>` : ''}<td><code>${esc(t.id)}</code></td><td>${t.name ? esc(t.name) : '<span class="muted">(no name)</span>'}</td>` +
          `<td>${t.status ? chip(STATUS_TONE[t.status], t.status) : '<span class="muted">none yet</span>'}</td>` +
          `<td>${t.pollError !== undefined ? `${badge('bad', 'failing')} ${chip('bad', t.pollError)}` : badge('ok', 'OK')}</td></tr>`,
      );
    }
  }
  if (rows.length === 0) return '<h2>Needs attention</h2>\n<p class="muted">Nothing: no task failed or has an unknown status, and no poll of a task is failing.</p>';
  const total = rows.length + more;
  return `<h2>Needs attention <small>(${num(total)} task${total === 1 ? '' : 's'})</small></h2>
<table><thead><tr>${s.multiAccount ? '<th>Account</th>' : ''}<th>Task ID</th><th>Name</th><th>Status</th><th>Last poll</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>${more > 0 ? `\n<p class="muted">and ${num(more)} more: <code>aliyun_sas_scan_task_status</code> and <code>aliyun_sas_scan_task_poll_error_info</code> name them all.</p>` : ''}`;
}

function footer(s: ExporterStatus): string {
  return `<footer>Rendered ${esc(utc(s.now))}. Version ${esc(s.version)}, revision ${esc(s.revision)}, Node.js ${esc(s.nodeVersion)}.</footer>`;
}
