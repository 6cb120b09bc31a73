/**
 * Time for drivers whose behaviour depends on it (ack deadlines, nack delays, polling),
 * injected so tests can run minutes of bus time without sleeping: {@link systemClock} for
 * production, {@link ManualClock} for tests.
 *
 * @module
 */

/** A source of time and of abortable waits. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall-clock time and real timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener("abort", done, { once: true });
    });
  },
};

/** A clock that only moves when told to; sleeps wake when {@link ManualClock.advance} passes their deadline. */
export class ManualClock implements Clock {
  #now: number;
  #sleepers: { until: number; wake: () => void }[] = [];

  /** Starts at `startMs` (default: an arbitrary fixed instant). */
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  /** The current manual time. */
  now(): number {
    return this.#now;
  }

  /** Waits until the manual time reaches now + `ms` or `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper = {
        until: this.#now + Math.max(0, ms),
        wake: () => {
          this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
          signal?.removeEventListener("abort", sleeper.wake);
          resolve();
        },
      };
      this.#sleepers.push(sleeper);
      signal?.addEventListener("abort", sleeper.wake, { once: true });
    });
  }

  /** Moves time forward by `ms`, waking every sleeper whose deadline passed, then lets them run. */
  async advance(ms: number): Promise<void> {
    this.#now += ms;
    for (const s of [...this.#sleepers]) if (s.until <= this.#now) s.wake();
    // Let woken waiters run their continuations before the caller looks at the result.
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
  }

  /** Number of pending sleeps (lets tests wait until a receiver is parked). */
  get sleepers(): number {
    return this.#sleepers.length;
  }
}
