/**
 * Durations in scenario files ("500ms", "10s", "2m", "1m30s").
 *
 * The simulator keeps its own parser rather than importing the exporter's:
 * a scenario file is a test fixture and must not change meaning when the
 * exporter's configuration rules evolve.
 */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const WHOLE_RE = /^(?:\d+(?:ms|s|m|h))+$/;
const PART_RE = /(\d+)(ms|s|m|h)/g;

/** Milliseconds, or undefined when the text is not a duration. `0` alone is allowed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (!WHOLE_RE.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(PART_RE)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isSafeInteger(total) ? total : undefined;
}
