/**
 * Task IDs are Java longs on the service side. Converting them to a JS number
 * would make 9007199254740993 and 9007199254740992 the same task, so they are
 * kept as canonical decimal strings; BigInt is used only to strip leading zeros
 * and check the range, never to compare.
 */
export const MAX_TASK_ID = 9223372036854775807n; // 2^63 - 1

/** The canonical decimal form, or undefined for anything that is not a positive long. */
export function canonicalTaskId(value: unknown): string | undefined {
  let n: bigint;
  if (typeof value === 'bigint') {
    n = value;
  } else if (typeof value === 'string') {
    const s = value.trim();
    if (!/^\d{1,30}$/.test(s)) return undefined;
    n = BigInt(s);
  } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
    // Only safe integers: anything above 2^53 already lost its exact value.
    n = BigInt(value);
  } else {
    return undefined;
  }
  if (n <= 0n || n > MAX_TASK_ID) return undefined;
  return n.toString();
}
