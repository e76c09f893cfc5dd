/** Loopback networking for tests. */

/** One definition, shared with the benchmark (which is compiled, while tests are not). */
export { freePort } from '../../bench/lib/tools.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
