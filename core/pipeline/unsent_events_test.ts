/**
 * Tests of the unsent-events log (unsent_events.ts): one warning per bus outage with its error,
 * reminders at most once per interval, and one line when events are sent again.
 */

import assert from "node:assert/strict";
import { UnsentEvents, type UnsentEventsLogger } from "./unsent_events.ts";

function recorder() {
  const lines: string[] = [];
  const record = (level: string) => (message: string, properties: Record<string, unknown>) =>
    lines.push(`${level} ${message.replace(/\{(\w+)\}/g, (_, name) => String(properties[name]))}`);
  const log: UnsentEventsLogger = { warn: record("warn"), info: record("info"), debug: record("debug") };
  return { lines, log };
}

Deno.test("UnsentEvents: one warning per outage, a reminder a minute, one line when events flow again", () => {
  const { lines, log } = recorder();
  let now = Date.UTC(2026, 11, 2, 16, 0, 0);
  const unsent = new UnsentEvents(log, () => new Date(now));
  unsent.sent();
  assert.deepEqual(lines, [], "nothing to say while events flow");
  unsent.failed("a/staging/1", new Error("bus down"));
  now += 1_000;
  unsent.failed("a/staging/2", new Error("not tried"));
  now += 60_000;
  unsent.failed("a/staging/3", new Error("not tried"));
  now += 1_000;
  unsent.failed("a/staging/4", new Error("not tried"));
  unsent.sent();
  unsent.sent();
  unsent.failed("a/staging/5", new Error("down again"));
  assert.deepEqual(lines, [
    "warn publishing profile.uploaded for a/staging/1 failed; the worker's sweep merges it: Error: bus down",
    "debug publishing profile.uploaded for a/staging/2 failed; the worker's sweep merges it",
    "debug publishing profile.uploaded for a/staging/3 failed; the worker's sweep merges it",
    "warn events still cannot be sent: 3 uploads staged without one since 2026-12-02T16:00:00.000Z; the worker's sweep merges them: Error: not tried",
    "debug publishing profile.uploaded for a/staging/4 failed; the worker's sweep merges it",
    "info events are sent again; the 4 uploads staged without one since 2026-12-02T16:00:00.000Z are merged by the worker's sweep",
    "warn publishing profile.uploaded for a/staging/5 failed; the worker's sweep merges it: Error: down again",
  ]);
});
