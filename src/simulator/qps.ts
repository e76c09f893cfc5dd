/**
 * The service's flow control as a client sees it: more than `limit` calls in
 * any one-second window and the extra ones are refused. A sliding log (not
 * fixed per-second buckets) so a burst straddling a second boundary is caught.
 */
export class SlidingWindowLimiter {
  private times: number[] = [];
  private head = 0;

  constructor(
    private limit: number,
    private readonly windowMs = 1000,
  ) {}

  setLimit(limit: number): void {
    this.limit = limit;
  }

  /** True when the call is admitted (and then counts against the window). */
  tryAcquire(nowMs: number): boolean {
    while (this.head < this.times.length && this.times[this.head]! <= nowMs - this.windowMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    if (this.times.length - this.head >= this.limit) return false;
    this.times.push(nowMs);
    return true;
  }
}
