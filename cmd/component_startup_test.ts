/**
 * Tests of opening a store or bus by URL (component_startup.ts): a service that is down is waited
 * for, but a shutdown signal ends the wait, and a resource that arrives after it is closed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openOrFail } from "./component_startup.ts";
import { CliError } from "./cli_error.ts";

interface FakeResource {
  check(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
  closed: boolean;
}

function fakeResource(): FakeResource {
  return {
    closed: false,
    check: () => Promise.resolve(),
    close() {
      this.closed = true;
      return Promise.resolve();
    },
  };
}

const unavailable = () => Promise.reject(Object.assign(new Error("connection refused"), { kind: "unavailable" }));

Deno.test("openOrFail: a signal ends the wait for a service that is down", async () => {
  const shutdown = new AbortController();
  let attempts = 0;
  const opening = openOrFail("event reader", "nats://127.0.0.1:1/stream", () => {
    attempts++;
    return unavailable();
  }, shutdown.signal);
  setTimeout(() => shutdown.abort(new Error("SIGTERM")), 50);
  const started = performance.now();
  await assert.rejects(opening, /SIGTERM/);
  assert.ok(performance.now() - started < 900, "not after the first retry's full second");
  assert.equal(attempts, 1);
});

Deno.test("openOrFail: a resource that opens after the signal is closed", async () => {
  const shutdown = new AbortController();
  const late = fakeResource();
  let arrive = () => {};
  const opening = openOrFail(
    "event reader",
    "nats://127.0.0.1:1/stream",
    () => new Promise<FakeResource>((resolve) => arrive = () => resolve(late)),
    shutdown.signal,
  );
  shutdown.abort(new Error("SIGTERM"));
  await assert.rejects(opening, /SIGTERM/);
  arrive();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(late.closed, true);
});

Deno.test("openOrFail: a check held up by a shutdown is left, and the resource closed", async () => {
  const shutdown = new AbortController();
  const resource = fakeResource();
  resource.check = (signal) =>
    new Promise((_, reject) => signal!.addEventListener("abort", () => reject(new Error("check aborted"))));
  const opening = openOrFail("blob store", "s3://bucket", () => Promise.resolve(resource), shutdown.signal);
  setTimeout(() => shutdown.abort(new Error("SIGINT")), 20);
  await assert.rejects(opening, /SIGINT/);
  assert.equal(resource.closed, true);
});

Deno.test("openOrFail: a failure that is not transient is a one-line CLI error, signal or not", async () => {
  for (const signal of [undefined, new AbortController().signal]) {
    const opening = openOrFail(
      "blob store",
      "s3://user:secret@bucket",
      () => Promise.reject(new Error("bucket\nmissing")),
      signal,
    );
    const error = await opening.then(() => undefined, (e) => e);
    assert.ok(error instanceof CliError);
    assert.match(error.message, /^opening blob store s3:\/\/.*: bucket missing$/);
    assert.doesNotMatch(error.message, /secret/);
  }
});
