/** A clock tests move by hand: pass `clock.now` where the code takes a clock. */
export class TestClock {
  #t: number;
  /** Starts at `start` (an ISO time or epoch ms); default 2030-01-01T00:00:00.000Z. */
  constructor(start: string | number = '2030-01-01T00:00:00.000Z') {
    this.#t = typeof start === 'number' ? start : Date.parse(start);
  }
  now = (): Date => new Date(this.#t);
  advance(ms: number): void {
    this.#t += ms;
  }
  advanceHours(h: number): void {
    this.advance(h * 3_600_000);
  }
}
