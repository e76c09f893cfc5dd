/**
 * Pure mapping of DescribeScanTaskProgress answers onto the exporter's
 * vocabulary. No I/O: unit tested on literal bodies.
 */
import type { ScanTarget } from '../model/snapshot.js';
import type { TargetInfoProblem, TaskStatus } from '../model/vocabulary.js';
import type { ScanTaskProgress } from './types.js';

const STATUS_BY_LOWERCASE: Record<string, TaskStatus> = {
  init: 'init',
  processing: 'processing',
  success: 'success',
  failed: 'failed',
};

/** The API writes `init`, `Processing`, `Success`, `Failed`; match case-insensitively, anything else is `unknown`. */
export function normalizeStatus(raw: string): TaskStatus {
  return STATUS_BY_LOWERCASE[raw.trim().toLowerCase()] ?? 'unknown';
}


export type TargetInfoResult =
  | { readonly ok: true; readonly targets: readonly ScanTarget[] }
  | { readonly ok: false; readonly problem: TargetInfoProblem; readonly detail: string };

/**
 * TargetInfo is documented as a string holding a JSON array, and shown as a
 * plain array in one sample: accept both. Each element needs `type` and
 * `target`; `name` may be absent (then empty).
 */
export function parseTargetInfo(value: unknown): TargetInfoResult {
  if (value === undefined || value === null) return { ok: false, problem: 'missing', detail: 'TargetInfo is missing' };
  let list: unknown = value;
  if (typeof value === 'string') {
    if (value.trim() === '') return { ok: false, problem: 'empty', detail: 'TargetInfo is an empty string' };
    try {
      list = JSON.parse(value);
    } catch {
      return { ok: false, problem: 'malformed', detail: 'TargetInfo is not valid JSON' };
    }
  }
  if (!Array.isArray(list)) return { ok: false, problem: 'malformed', detail: 'TargetInfo is not a JSON array' };
  if (list.length === 0) return { ok: false, problem: 'empty', detail: 'TargetInfo is an empty array' };
  const targets: ScanTarget[] = [];
  // The same (type, target) twice would be two identical series and a doubled count: keep the first.
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const el: unknown = list[i];
    if (el === null || typeof el !== 'object') return { ok: false, problem: 'malformed', detail: `TargetInfo[${i}] is not an object` };
    const { type, target, name } = el as Record<string, unknown>;
    if (typeof type !== 'string' || type === '') return { ok: false, problem: 'malformed', detail: `TargetInfo[${i}].type is missing` };
    if (typeof target !== 'string' && typeof target !== 'number') return { ok: false, problem: 'malformed', detail: `TargetInfo[${i}].target is missing` };
    const key = `${type}\u0000${String(target)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    targets.push({ type, target: String(target), name: typeof name === 'string' ? name : name === undefined || name === null ? '' : String(name) });
  }
  return { ok: true, targets };
}

export type BodyResult = { readonly ok: true; readonly value: ScanTaskProgress } | { readonly ok: false; readonly detail: string };

/** A 200 body: `ScanTaskProgress` is required; a bad TargetInfo keeps the status and is reported beside it. */
export function parseProgressBody(body: unknown): BodyResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, detail: 'response body is not a JSON object' };
  const b = body as Record<string, unknown>;
  const raw = b.ScanTaskProgress;
  if (typeof raw !== 'string') return { ok: false, detail: 'response has no ScanTaskProgress string' };
  const requestId = typeof b.RequestId === 'string' ? b.RequestId : '';
  const targets = parseTargetInfo(b.TargetInfo);
  const base = { requestId, rawStatus: raw, status: normalizeStatus(raw) };
  return {
    ok: true,
    value: targets.ok ? { ...base, targets: targets.targets } : { ...base, targets: [], targetInfoError: `${targets.problem}: ${targets.detail}` },
  };
}
