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
 * (the header timeout) without a place is let go (answered 503).
 *
 * When the room is full, a newcomer is answered 503 at once, unless it comes from a client with
 * fewer connections (waiting and placed) than the client waiting most: then that client's newest
 * waiting connection is let go instead and the newcomer takes its place at the end of the line.
 * One client (an address, or an IPv6 /64) holding every place and the whole line used to get every
 * other client a 503 for as long as it kept reconnecting.
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
  /** Lets `connection` go after its wait, or when a newcomer from another client takes its place. */
  expire(connection: C): void;
  /** The client `connection` comes from; without it, a full room takes nobody. */
  clientOf?(connection: C): string;
  /** Connections `client` holds places with now (default: none). */
  placesOf?(client: string): number;
}

/** A connection in line; `gone` once it left (admitted, let go, or its place taken by a newcomer). */
interface Waiting<C> {
  connection: C;
  until: number;
  client: string;
  gone: boolean;
  /** The same client's connection that came before this one, while this one waits. */
  before?: Waiting<C>;
}

/** Counts per key, with a key of the largest count at hand in constant time. */
class Tally {
  readonly #counts = new Map<string, number>();
  /** Keys by count: `#byCount[n]` holds the keys counted `n` times (n ≥ 1). */
  readonly #byCount: Set<string>[] = [];
  #max = 0;

  /** The count of `key` (0 when absent). */
  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Adds 1 (or `delta`, +1 or -1) to the count of `key`; a count never falls below 0. */
  add(key: string, delta: 1 | -1 = 1): void {
    const before = this.get(key);
    const after = Math.max(0, before + delta);
    if (after === before) return;
    this.#byCount[before]?.delete(key);
    if (after === 0) this.#counts.delete(key);
    else {
      this.#counts.set(key, after);
      (this.#byCount[after] ??= new Set()).add(key);
    }
    if (after > this.#max) this.#max = after;
    while (this.#max > 0 && !this.#byCount[this.#max]?.size) this.#max--;
  }

  /** A key of the largest count, or undefined when every count is 0. */
  top(): string | undefined {
    if (this.#max === 0) return undefined;
    return this.#byCount[this.#max].values().next().value;
  }
}

/** A first-come-first-served line of connections waiting for a place. */
export class WaitingRoom<C> {
  readonly #options: WaitingRoomOptions<C>;
  /** The line, oldest first, from `#head` on; entries whose place a newcomer took are `gone`. */
  #line: Waiting<C>[] = [];
  #head = 0;
  #waiting = 0;
  #perClient = new Tally();
  /**
   * Each waiting client's newest connection in line. Connections leave a client's line from its
   * oldest end (admitted or let go at the head) or from its newest (a newcomer takes the place), so
   * following `before` from here reaches the client's waiting connections until a gone one.
   */
  #newest = new Map<string, Waiting<C>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #serving = false;

  /** An empty room. */
  constructor(options: WaitingRoomOptions<C>) {
    this.#options = options;
  }

  /** Connections waiting now. */
  get size(): number {
    return this.#waiting;
  }

  /**
   * Puts `connection` in line at `now` and serves the line; false (nothing done) when the room is
   * full and no client holds more than the newcomer's by more than one.
   */
  offer(connection: C, now: number): boolean {
    const client = this.#options.clientOf?.(connection) ?? "";
    if (this.#waiting >= this.#options.capacity && !this.#makeRoomFor(client)) return false;
    const entry: Waiting<C> = { connection, until: now + this.#options.waitMs, client, gone: false };
    entry.before = this.#newest.get(client);
    this.#newest.set(client, entry);
    this.#line.push(entry);
    this.#waiting++;
    this.#perClient.add(client);
    this.serve(now);
    return true;
  }

  /** Lets go of the newest waiting connection of the client waiting most, if it holds more than `client` would. */
  #makeRoomFor(client: string): boolean {
    const { clientOf, placesOf = () => 0 } = this.#options;
    const top = this.#perClient.top();
    if (!clientOf || top === undefined || top === client) return false;
    const held = (c: string) => this.#perClient.get(c) + placesOf(c);
    if (held(top) <= held(client) + 1) return false;
    const newest = this.#newest.get(top)!;
    const before = newest.before;
    this.#leave(newest);
    if (before && !before.gone) this.#newest.set(top, before);
    this.#options.expire(newest.connection);
    return true;
  }

  /** Marks `entry` gone and takes it out of the counts (its place in the array is cleared or skipped). */
  #leave(entry: Waiting<C>): void {
    entry.gone = true;
    entry.before = undefined; // the chain ends at a gone connection: nothing older is kept alive by it
    if (this.#newest.get(entry.client) === entry) this.#newest.delete(entry.client);
    this.#waiting--;
    this.#perClient.add(entry.client, -1);
  }

  /** Lets waiting connections in, oldest first, while places can be found; lets go of those past their wait. */
  serve(now: number): void {
    if (this.#serving) return; // a place freed while admitting: the loop below takes it
    this.#serving = true;
    try {
      while (this.#head < this.#line.length) {
        const next = this.#line[this.#head];
        if (!next.gone && next.until > now && !this.#options.findPlace(now)) break;
        this.#line[this.#head++] = undefined!;
        if (next.gone) continue;
        this.#leave(next);
        if (next.until > now) this.#options.admit(next.connection);
        else this.#options.expire(next.connection);
      }
      this.#compact();
    } finally {
      this.#serving = false;
    }
    if (this.#waiting > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.serve(Date.now());
      }, this.#options.checkEveryMs);
    }
  }

  /** Drops the cleared front of the line, and the entries let go once they outnumber those waiting. */
  #compact(): void {
    const kept = this.#line.length - this.#head;
    if (kept > 2 * this.#waiting + 1024) {
      [this.#line, this.#head] = [this.#line.slice(this.#head).filter((entry) => !entry.gone), 0];
    } else if (this.#head > 1024 && this.#head * 2 > this.#line.length) {
      [this.#line, this.#head] = [this.#line.slice(this.#head), 0];
    }
  }

  /** Stops serving and returns the connections still waiting, oldest first. */
  close(): C[] {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const left = this.#line.slice(this.#head).filter((entry) => !entry.gone).map((entry) => entry.connection);
    [this.#line, this.#head, this.#waiting, this.#perClient] = [[], 0, 0, new Tally()];
    this.#newest.clear();
    return left;
  }
}
