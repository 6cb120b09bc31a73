/** bindHost: the default host falls back to IPv4 where IPv6 cannot be bound; nothing else is retried. @module */

import assert from "node:assert/strict";
import { ALL_INTERFACES, bindHost, reportStartupWait, startingResponse } from "./listen.ts";

const describe = (host: string, e: unknown) => new Error(`${host}: ${(e as Error).message}`);

Deno.test("bindHost: all interfaces fall back to 0.0.0.0 when IPv6 cannot be bound", () => {
  const tried: string[] = [];
  const bound = bindHost(ALL_INTERFACES, (host) => {
    tried.push(host);
    if (host === "::") throw new Error("Address family not supported by protocol (os error 97)");
    return host;
  }, describe);
  assert.equal(bound, "0.0.0.0");
  assert.deepEqual(tried, ["::", "0.0.0.0"]);
});

Deno.test("bindHost: a taken or forbidden port, and any explicit host, are not retried", () => {
  for (
    const [host, error] of [
      [ALL_INTERFACES, new Deno.errors.AddrInUse("Address already in use")],
      [ALL_INTERFACES, new Deno.errors.PermissionDenied("Permission denied")],
      ["10.9.8.7", new Deno.errors.AddrNotAvailable("Cannot assign requested address")],
    ] as const
  ) {
    const tried: string[] = [];
    assert.throws(() =>
      bindHost(host, (h) => {
        tried.push(h);
        throw error;
      }, describe), new RegExp(`^Error: ${host.replace(/\./g, "\\.")}: ${error.message}$`));
    assert.deepEqual(tried, [host]);
  }
});

Deno.test("bindHost: where both fail, the IPv4 attempt's error is the one reported", () => {
  assert.throws(
    () =>
      bindHost(ALL_INTERFACES, () => {
        throw new Error("no network");
      }, describe),
    /^Error: 0\.0\.0\.0: no network$/,
  );
});

Deno.test("startingResponse: 503 starting, with what start-up waits for while it is reported", async () => {
  try {
    assert.deepEqual(await startingResponse().json(), { message: "starting", code: 503 });
    reportStartupWait("blob store s3://b is not reachable yet (connection refused); retrying");
    const response = startingResponse();
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "1");
    assert.equal(
      (await response.json()).message,
      "starting: blob store s3://b is not reachable yet (connection refused); retrying",
    );
  } finally {
    reportStartupWait(undefined);
  }
  assert.equal((await startingResponse().json()).message, "starting");
});
