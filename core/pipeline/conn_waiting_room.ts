/**
 * The connection guard's waiting room (conn_guard.ts): connections accepted while every place is
 * taken wait here instead of being answered 503 at once, and get the next place that frees or that
 * a stalling connection is made to give up (conn_pressure.ts).
 *
 * Why: making room only for whoever arrives first let slow clients with more connections than the
 * cap keep every place. They reconnected as soon as one was closed, so each place that stalled
 * past its grace went to one of them, and another client's request got a 503 every time (60 slow
 * clients against 40 places, reconnecting after 50 ms: tests/hardening_slow_clients_test.ts). In
 * line, places turn over at least every grace period while slow clients hold them. A waiting
 * connection costs one file descriptor and is not read; the room holds a bounded number, and one
 * that waited `waitMs` (the header timeout) without a place is let go (answered 503).
 *
 * Clients take turns: each client (an address, or an IPv6 /64: `clientOf`) has its own line, first
 * come first served, and places go to the clients waiting in rotation, one connection each. So a
 * client holding hundreds of waiting connections delays another client's newcomer by one place,
 * not by all of its connections: in one line, a newcomer from another address waited behind
 * 800 slow connections for 8 s, past its own patience. When the room is full, a newcomer is
 * answered 503 at once, unless it comes from a client with fewer connections (waiting and placed)
 * than the client waiting most: then that client's newest waiting connection is let go instead.
 * One client holding every place and the whole room used to get every other client a 503 for as
 * long as it kept reconnecting.
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

/** A connection in line, with its arrival order. */
interface Waiting<C> {
  connection: C;
  until: number;
  seq: number;
}

/** A first-in-first-out line that can also give up its newest item; taking from either end is constant time. */
class Line<T> {
  #items: T[] = [];
  #head = 0;

  /** Items in it. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Adds the newest item. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item (the line must not be empty). */
  oldest(): T {
    return this.#items[this.#head];
  }

  /** Takes the oldest item out (the line must not be empty). */
  takeOldest(): T {
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined!;
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      [this.#items, this.#head] = [this.#items.slice(this.#head), 0];
    }
    return item;
  }

  /** Takes the newest item out (the line must not be empty). */
  takeNewest(): T {
    return this.#items.pop()!;
  }

  /** The items, oldest first. */
  all(): T[] {
    return this.#items.slice(this.#head);
  }
}

/** One client's connections in line, oldest first. */
class ClientLine<C> extends Line<Waiting<C>> {
  /** A line for `client`. */
  constructor(readonly client: string) {
    super();
  }
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

/** Connections waiting for a place, each client's first come first served, the clients in turn. */
export class WaitingRoom<C> {
  readonly #options: WaitingRoomOptions<C>;
  /** Each waiting client's line. */
  #lines = new Map<string, ClientLine<C>>();
  /** The clients' lines in the order of their turns; an emptied line is skipped. */
  #turns = new Line<ClientLine<C>>();
  #waiting = 0;
  #seq = 0;
  #perClient = new Tally();
  /** When the lines behind the first were last searched for connections past their wait. */
  #sweptAt = -Infinity;
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
   * Puts `connection` in its client's line at `now` and serves the lines; false (nothing done) when
   * the room is full and no client holds more than the newcomer's by more than one.
   */
  offer(connection: C, now: number): boolean {
    const client = this.#options.clientOf?.(connection) ?? "";
    if (this.#waiting >= this.#options.capacity && !this.#makeRoomFor(client)) return false;
    let line = this.#lines.get(client);
    if (!line) {
      this.#lines.set(client, line = new ClientLine(client));
      this.#turns.push(line);
    }
    line.push({ connection, until: now + this.#options.waitMs, seq: this.#seq++ });
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
    const line = this.#lines.get(top)!;
    this.#letGo(line, line.takeNewest());
    return true;
  }

  /** Lets go of `entry`, just taken out of `line` (answered 503 by `expire`). */
  #letGo(line: ClientLine<C>, entry: Waiting<C>): void {
    this.#left(line);
    this.#options.expire(entry.connection);
  }

  /** Counts a connection out of `line`; forgets the line once it is empty. */
  #left(line: ClientLine<C>): void {
    this.#waiting--;
    this.#perClient.add(line.client, -1);
    if (line.size === 0) this.#lines.delete(line.client);
  }

  /**
   * Lets waiting connections in while places can be found, one per client in turn, each client's
   * oldest first; lets go of those past their wait.
   */
  serve(now: number): void {
    if (this.#serving) return; // a place freed while admitting: the loop below takes it
    this.#serving = true;
    try {
      if (now - this.#sweptAt >= this.#options.checkEveryMs) this.#letGoOverdue(now);
      // A line that waits always has its turn ahead; should one ever not, the sweep lets it go.
      while (this.#waiting > 0 && this.#turns.size > 0) {
        const line = this.#turns.oldest();
        if (line.size === 0) {
          this.#turns.takeOldest();
          continue;
        }
        if (line.oldest().until <= now) {
          this.#letGo(line, line.takeOldest());
          continue;
        }
        if (!this.#options.findPlace(now)) break;
        const next = line.takeOldest();
        this.#turns.takeOldest();
        if (line.size > 0) this.#turns.push(line); // its next connection waits for its next turn
        this.#left(line);
        this.#options.admit(next.connection);
      }
      if (this.#waiting === 0) this.#turns = new Line();
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

  /** Lets go of every connection past its wait, in every client's line (at most once per `checkEveryMs`). */
  #letGoOverdue(now: number): void {
    this.#sweptAt = now;
    for (const line of [...this.#lines.values()]) {
      while (line.size > 0 && line.oldest().until <= now) this.#letGo(line, line.takeOldest());
    }
  }

  /** Stops serving and returns the connections still waiting, oldest first. */
  close(): C[] {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const left = [...this.#lines.values()].flatMap((line) => line.all()).sort((a, b) => a.seq - b.seq);
    [this.#lines, this.#turns, this.#waiting, this.#perClient] = [new Map(), new Line(), 0, new Tally()];
    return left.map((entry) => entry.connection);
  }
}
