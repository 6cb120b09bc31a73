/**
 * Log values (logging.ts `safeText`): a value from a client cannot forge a log line of its own or
 * make one line megabytes long.
 *
 * @module
 */

import assert from "node:assert/strict";
import { safeText } from "./logging.ts";

Deno.test("safeText escapes control characters and cuts long values", () => {
  assert.equal(
    safeText("evt-1\n2026-01-01 [ERR] autopgo.worker: forged\ttab\r\u0000"),
    "evt-1\\u000a2026-01-01 [ERR] autopgo.worker: forged\\ttab\\u000d\\u0000",
  );
  const long = safeText("k".repeat(50_000));
  assert.ok(long.length < 2_100, `${long.length} characters`);
  assert.match(long, /… \(47952 more characters\)$/);
  assert.equal(safeText("plain é ✓"), "plain é ✓");
});
