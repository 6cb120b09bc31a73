/**
 * The log of `profile.uploaded` events the server could not send. An upload is accepted once it is
 * staged; its event only speeds the merge up, and the worker's reconcile sweep merges an upload
 * without one. So a bus outage is worth a warning, not one per upload: with the topic failing fast
 * (core/event_bus.ts) every upload of a busy fleet would otherwise add a warning line. The first
 * unsent event of an outage is logged at `warn` with its error, later ones at `debug` and counted
 * in a reminder at most once a minute, and the first event sent again ends the outage with an
 * `info` line saying how many uploads waited for the sweep.
 *
 * @module
 */

/** The logger calls this log makes (logtape's `Logger` has them). */
export interface UnsentEventsLogger {
  warn(message: string, properties: Record<string, unknown>): void;
  info(message: string, properties: Record<string, unknown>): void;
  debug(message: string, properties: Record<string, unknown>): void;
}

/** How often, at most, a continuing outage is logged again. */
export const UNSENT_REMINDER_MS = 60_000;

/** See the module documentation. */
export class UnsentEvents {
  #since?: Date;
  #count = 0;
  #lastWarning = 0;

  /** Logs to `log`; `now` is the clock. */
  constructor(
    private readonly log: UnsentEventsLogger,
    private readonly now: () => Date,
    private readonly reminderMs = UNSENT_REMINDER_MS,
  ) {}

  /** The event of the upload staged as `key` was not sent, because of `error`. */
  failed(key: string, error: unknown): void {
    const now = this.now();
    this.#count++;
    const reason = String(error);
    if (!this.#since) {
      this.#since = now;
      this.#lastWarning = now.getTime();
      this.log.warn("publishing profile.uploaded for {key} failed; the worker's sweep merges it: {error}", {
        key,
        error: reason,
      });
      return;
    }
    this.log.debug("publishing profile.uploaded for {key} failed; the worker's sweep merges it", { key });
    if (now.getTime() - this.#lastWarning < this.reminderMs) return;
    this.#lastWarning = now.getTime();
    this.log.warn(
      "events still cannot be sent: {count} uploads staged without one since {since}; the worker's sweep merges them: {error}",
      { count: this.#count, since: this.#since.toISOString(), error: reason },
    );
  }

  /** An event was sent: ends an outage, if there was one. */
  sent(): void {
    if (!this.#since) return;
    this.log.info(
      "events are sent again; the {count} uploads staged without one since {since} are merged by the worker's sweep",
      {
        count: this.#count,
        since: this.#since.toISOString(),
      },
    );
    this.#since = undefined;
    this.#count = 0;
  }
}
