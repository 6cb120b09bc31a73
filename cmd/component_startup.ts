/**
 * What `autopgo server` and `autopgo worker` share to start and stop: opening a blob store or
 * event bus by URL with one-line errors (waiting for one that is down), the health checks named
 * as in the original, and the shutdown signals.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { BlobStore } from "../core/blob.ts";
import type { EventReader, EventWriter } from "../core/events.ts";
import type { HealthCheck } from "../core/health.ts";
import { kindFromNetworkError } from "../core/blob_bucket.ts";
import { redactUrl } from "../core/registry.ts";
import { messageLine, originsOnly, publicMessage } from "../core/public_error.ts";
import { CliError } from "./cli_error.ts";
import { reportStartupWait } from "./listen.ts";
import { abortable, abortableSleep } from "../core/sleep.ts";

const log = getLogger(["autopgo", "startup"]);

/** How long the start-up reachability check of each store and bus may take. */
const STARTUP_CHECK_MS = 30_000;

/**
 * Opens a resource by URL and checks it once, turning failures into one-line CLI errors naming
 * it: a missing bucket, topic or subscription, bad credentials or a bad URL stop start-up. A
 * transient failure (`unavailable`: the service is down or throttling) only logs a warning, so
 * a component may start before its store or broker; `/api/ready` answers 503 until it is up.
 * `signal` (a shutdown) ends the waiting: the promise rejects with its reason, and a resource
 * whose opening was under way is closed once it arrives.
 */
export async function openOrFail<T extends { check(signal?: AbortSignal): Promise<void>; close?(): Promise<void> }>(
  what: string,
  url: string,
  open: (url: string) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  let resource: T;
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    const opening = open(url);
    try {
      resource = await abortable(opening, signal);
      break;
    } catch (error) {
      if (signal?.aborted) {
        opening.then((late) => late.close?.(), () => {}).catch(() => {});
        throw signal.reason;
      }
      // A broker that is down (refused, reset, timed out) is waited for; anything else is final.
      const transient = (error as { kind?: string }).kind === "unavailable" ||
        kindFromNetworkError(error) !== undefined;
      if (!transient) throw new CliError(`opening ${what} ${redactUrl(url)}: ${messageLine(error)}`);
      const delayMs = Math.min(30_000, 1_000 * 2 ** Math.min(attempt - 1, 5));
      reportStartupWait(`${what} ${publicUrl(url)} is not reachable yet (${publicMessage(error)}); retrying`);
      log.warn("{what} {url} is not reachable yet, retrying in {seconds}s: {error}", {
        what,
        url: redactUrl(url),
        seconds: delayMs / 1000,
        error: messageLine(error),
      });
      await abortableSleep(delayMs, signal ?? new AbortController().signal);
    }
  }
  reportStartupWait(`checking ${what} ${publicUrl(url)}`);
  const timeout = AbortSignal.timeout(STARTUP_CHECK_MS);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await abortable(
      Promise.race([
        resource.check(signal ? AbortSignal.any([timeout, signal]) : timeout),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(Object.assign(new Error(`no answer within ${STARTUP_CHECK_MS / 1000}s`), { kind: "unavailable" })),
            STARTUP_CHECK_MS,
          );
        }),
      ]),
      signal,
    );
  } catch (error) {
    if (signal?.aborted) {
      await resource.close?.().catch(() => {});
      throw signal.reason;
    }
    if ((error as { kind?: string }).kind === "unavailable" || timeout.aborted) {
      log.warn("{what} {url} is not reachable yet: {error}", { what, url: redactUrl(url), error: messageLine(error) });
    } else {
      await resource.close?.().catch(() => {});
      throw new CliError(`${what} ${redactUrl(url)}: ${messageLine(error)}`);
    }
  } finally {
    clearTimeout(timer);
    reportStartupWait(undefined);
  }
  return resource;
}

/** `url` as an unauthenticated client may see it: no credentials, path or query (no file store path at all). */
function publicUrl(url: string): string {
  return /^file:/i.test(url) ? "file://<path>" : originsOnly(redactUrl(url));
}

/** Resolves once SIGINT or SIGTERM arrives; `dispose` removes the listeners. */
export function shutdownSignal(): { received: Promise<string>; dispose(): void } {
  let dispose = () => {};
  const received = new Promise<string>((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => resolve(signal);
      Deno.addSignalListener(signal, handler);
      return [signal, handler] as const;
    });
    dispose = () => handlers.forEach(([signal, handler]) => Deno.removeSignalListener(signal, handler));
  });
  return { received, dispose: () => dispose() };
}

/** Health checks named as in the original (`blob`, `event-reader`, `event-writer`). */
export function dependencyChecks(store: BlobStore, writer: EventWriter, reader?: EventReader): HealthCheck[] {
  const checks: HealthCheck[] = [{ name: "blob", check: (signal) => store.check(signal) }];
  if (reader) checks.push({ name: "event-reader", check: (signal) => reader.check(signal) });
  checks.push({ name: "event-writer", check: (signal) => writer.check(signal) });
  return checks;
}
