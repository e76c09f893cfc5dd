/**
 * Task IDs are Java longs on the service side. They stay decimal strings from
 * the YAML to the request to the label: a JS number would silently turn
 * 9007199254740993 into ...992.
 *
 * One spelling is accepted, bare or quoted alike: decimal digits (leading
 * zeros allowed, `05` is task 5). The configuration loader hands bare YAML
 * numbers over as their source text, so `0x10`, `0o20`, `1e3`, `1.0` and
 * `+5` are refused whether quoted or not, rather than read as 16, 16, 1000,
 * 1 and 5.
 */
import { quote } from '../yaml/issues.js';

export const MAX_TASK_ID = 9223372036854775807n; // 2^63 - 1

export type TaskIdResult = { ok: true; id: string } | { ok: false; reason: string };

/**
 * Accepts a string of decimal digits, a bigint or a safe integer (from code).
 * Returns the canonical decimal form, so `5`, `"5"` and `"05"` are the same task.
 */
export function parseTaskId(value: unknown): TaskIdResult {
  let n: bigint;
  if (typeof value === 'bigint') {
    n = value;
  } else if (typeof value === 'string') {
    if (/^-\d+$/.test(value)) return { ok: false, reason: `task ID ${quote(value)} must be positive` };
    if (!/^\d+$/.test(value)) return { ok: false, reason: `task ID ${quote(value)} is not a decimal integer (digits only, e.g. 282832)` };
    n = BigInt(value);
  } else if (typeof value === 'number') {
    // YAML integers arrive as bigint; numbers come from code, and only safe integers are still exact.
    if (!Number.isInteger(value)) return { ok: false, reason: `task ID ${value} is not an integer` };
    if (!Number.isSafeInteger(value)) return { ok: false, reason: `task ID ${value} is above 2^53 and has lost precision; write it as a string` };
    n = BigInt(value);
  } else {
    return { ok: false, reason: `task ID must be an integer or a string of digits, got ${value === null ? 'null' : typeof value}` };
  }
  if (n <= 0n) return { ok: false, reason: `task ID ${n} must be positive` };
  if (n > MAX_TASK_ID) return { ok: false, reason: `task ID ${n} is larger than 2^63-1` };
  return { ok: true, id: n.toString() };
}

/** The canonical decimal form, or undefined for anything that is not a positive long. */
export function canonicalTaskId(value: unknown): string | undefined {
  const r = parseTaskId(value);
  return r.ok ? r.id : undefined;
}
