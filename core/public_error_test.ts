/**
 * What clients may see of a failure: no paths, and a status that follows the cause.
 *
 * @module
 */

import assert from "node:assert/strict";
import { failureStatus, originsOnly, publicMessage, scrubPaths } from "./public_error.ts";

Deno.test("scrubPaths: absolute paths become <path>, other text stays", () => {
  assert.equal(
    scrubPaths('file blob store /var/lib/autopgo: write "app/x": Permission denied (os error 13): /tmp/a b'),
    'file blob store <path>: write "app/x": Permission denied (os error 13): <path> b',
  );
  assert.equal(scrubPaths("open C:\\data\\autopgo\\x failed"), "open <path> failed");
  assert.equal(
    scrubPaths('s3 bucket "profiles" at http://127.0.0.1:9000'),
    's3 bucket "profiles" at http://127.0.0.1:9000',
  );
  assert.equal(scrubPaths("app/default.pgo and 3/4"), "app/default.pgo and 3/4");
});

Deno.test("originsOnly: a URL keeps its scheme, host and port; its credentials, path and query go", () => {
  assert.equal(
    originsOnly(
      'listPrefixes on gs bucket "bkt": request to http://127.0.0.1:14443/storage/v1/b/bkt/o?prefix=&maxResults=1000 ' +
        "failed, reason: connect ECONNREFUSED 127.0.0.1:14443",
    ),
    'listPrefixes on gs bucket "bkt": request to http://127.0.0.1:14443 failed, reason: connect ECONNREFUSED 127.0.0.1:14443',
  );
  assert.equal(originsOnly("nats://user:secret@nats.internal:4222/x down"), "nats://nats.internal:4222 down");
  assert.equal(
    originsOnly('at "https://acct.blob.core.windows.net/c/k?sig=abc"'),
    'at "https://acct.blob.core.windows.net"',
  );
  assert.equal(originsOnly("app/default.pgo: 3/4 done"), "app/default.pgo: 3/4 done");
  assert.equal(
    publicMessage(new Error("GET https://u:p@s3.example:9000/b/k?X-Amz-Signature=1 failed")),
    "GET https://s3.example:9000 failed",
  );
});

Deno.test("failureStatus: 507 for a full disk anywhere in the cause chain, 503 for unavailable, else 500", () => {
  const enospc = new Error("write failed", {
    cause: Object.assign(new Error("No space left on device (os error 28)"), {}),
  });
  assert.equal(failureStatus(enospc), 507);
  assert.equal(failureStatus(Object.assign(new Error("down"), { kind: "unavailable" })), 503);
  assert.equal(failureStatus(new Error("boom")), 500);
  assert.equal(publicMessage(new Error("bad\n  thing at /root/x")), "bad thing at <path>");
});

Deno.test("failureStatus: a dependency still not answering at the request's deadline is 503, said plainly", () => {
  const aborted = new DOMException("The operation was aborted. Rejecting from abort signal callback", "AbortError");
  const wrapped = new Error('read "shop/default.pgo" on azblob container "profiles"', { cause: aborted });
  for (const error of [aborted, wrapped, new DOMException("Signal timed out.", "TimeoutError")]) {
    assert.equal(failureStatus(error), 503, String(error));
    assert.match(publicMessage(error), /^the request timed out waiting for the store or the event bus/);
  }
});
