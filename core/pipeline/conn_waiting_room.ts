/**
 * The connection guard's waiting room (conn_guard.ts): connections accepted while every place is
 * taken wait here, first come first served, instead of being answered 503 at once, and get the
 * next place that frees or that a stalling connection is made to give up (conn_pressure.ts).
 *
 * Why: making room only for whoever arrives first let slow clients with more connections than the
 * cap keep every place. They reconnected as soon as one was closed, so each place that stalled
 * past its grace went to one of them, and another client's request got a 503 every time (60 slow
 * clients against 40 places, reconnecting after 50 ms: tests/hardening_slow_clients_test.ts). In
 * line, a newcomer waits only behind those who came before it, and places turn over at least
 * every grace period while slow clients hold them. A waiting connection costs one file
 * descriptor and is not read; the room holds a bounded number, and one that waited `waitMs`
 * (the header timeout) without a place is let go (answered 503). When the room is full, a
 * newcomer is answered 503 at once, as before.
 *
 * @module
 */

/** How the room gets places and lets connections in or go. */
export interface WaitingRoomOptions<C> {
  /** Connections that may wait at once (0: nobody waits). */
  capacity: number;
  /** Longest wait before a connection is let go. */
  waitMs: number;
  /** How often the room looks for a place while anybody waits (places also free on their own: {@link WaitingRoom.serve}). */
  checkEveryMs: number;
  /** Finds a place at `now`: true when one is free or was made free. */
  findPlace(now: number): boolean;
  /** Gives `connection` the place just found. */
  admit(connection: C): void;
  /** Lets `connection` go after its wait. */
  expire(connection: C): void;
}

/** A first-come-first-served line of connections waiting for a place. */
export class WaitingRoom<C> {
  readonly #options: WaitingRoomOptions<C>;
  #line: { connection: C; until: number }[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #serving = false;

  /** An empty room. */
  constructor(options: WaitingRoomOptions<C>) {
    this.#options = options;
  }

  /** Connections waiting now. */
  get size(): number {
    return this.#line.length - this.#head;
  }

  /** Puts `connection` in line at `now` and serves the line; false (nothing done) when the room is full. */
  offer(connection: C, now: number): boolean {
    if (this.size >= this.#options.capacity) return false;
    this.#line.push({ connection, until: now + this.#options.waitMs });
    this.serve(now);
    return true;
  }

  /** Lets waiting connections in, oldest first, while places can be found; lets go of those past their wait. */
  serve(now: number): void {
    if (this.#serving) return; // a place freed while admitting: the loop below takes it
    this.#serving = true;
    try {
      while (this.size > 0) {
        const next = this.#line[this.#head];
        if (next.until > now && !this.#options.findPlace(now)) break;
        this.#line[this.#head++] = undefined!;
        if (next.until > now) this.#options.admit(next.connection);
        else this.#options.expire(next.connection);
      }
      if (this.#head > 1024 && this.#head * 2 > this.#line.length) {
        [this.#line, this.#head] = [this.#line.slice(this.#head), 0];
      }
    } finally {
      this.#serving = false;
    }
    if (this.size > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.serve(Date.now());
      }, this.#options.checkEveryMs);
    }
  }

  /** Stops serving and returns the connections still waiting, oldest first. */
  close(): C[] {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const left = this.#line.slice(this.#head).map((waiting) => waiting.connection);
    [this.#line, this.#head] = [[], 0];
    return left;
  }
}
