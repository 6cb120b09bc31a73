/**
 * Flag parsers (options.ts): durations a timer waits are bounded by what a timer can wait.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "commander";
import { durationArgAtMost, MAX_TIMER_MS, timerDurationArg } from "./options.ts";

Deno.test("timerDurationArg: up to 24 days; beyond, a one-line error instead of a timer that fires at once", () => {
  assert.equal(timerDurationArg("24d"), MAX_TIMER_MS);
  assert.ok(MAX_TIMER_MS < 2 ** 31 - 1);
  assert.throws(
    () => timerDurationArg("25d"),
    (e) => e instanceof InvalidArgumentError && /at most 24d/.test(e.message),
  );
  assert.equal(durationArgAtMost(3600_000, "1h")("30m"), 1_800_000);
  assert.throws(() => durationArgAtMost(3600_000, "1h")("2h"), /at most 1h, got "2h"/);
});
