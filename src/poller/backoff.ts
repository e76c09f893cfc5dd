/** Exponential backoff with full jitter: attempt 1 is the first retry. */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: spreads retries without ever retrying at once.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
