/**
 * The delivery rule shared by the mem:// and file:// buses, pinned directly: publication
 * order, one message per ordering key, delayed messages blocking their key, wake-up times;
 * plus the nack backoff and the strict URL parameters.
 *
 * @module
 */

import assert from "node:assert/strict";
import { busSettings, DEFAULT_ACK_DEADLINE_MS, nackBackoffMs, pickDeliverable } from "./bus_common.ts";

const msg = (seq: number, orderingKey: string | undefined, visibleAt = 0) => ({ seq, orderingKey, visibleAt });

Deno.test("pickDeliverable: lowest sequence first, whatever the input order", () => {
  assert.equal(pickDeliverable([msg(3, undefined), msg(1, undefined), msg(2, "a")], new Set(), 0).next?.seq, 1);
});

Deno.test("pickDeliverable: a key in flight holds back its later messages only", () => {
  const waiting = [msg(1, "a"), msg(2, "a"), msg(3, "b")];
  assert.equal(pickDeliverable(waiting, new Set(["a"]), 0).next?.seq, 3);
  assert.equal(pickDeliverable(waiting, new Set(["a", "b"]), 0).next, undefined);
  assert.equal(pickDeliverable([msg(5, undefined)], new Set(["a"]), 0).next?.seq, 5);
});

Deno.test("pickDeliverable: a delayed message blocks its key and sets the wake-up time", () => {
  const waiting = [msg(1, "a", 500), msg(2, "a", 0), msg(3, "b", 900), msg(4, undefined, 700)];
  const early = pickDeliverable(waiting, new Set(), 100);
  assert.equal(early.next, undefined);
  assert.equal(early.wakeAt, 500);
  assert.equal(pickDeliverable(waiting, new Set(), 500).next?.seq, 1);
  assert.equal(pickDeliverable(waiting, new Set(), 750).next?.seq, 1);
  assert.equal(pickDeliverable(waiting.slice(1), new Set(["a"]), 750).next?.seq, 4);
});

Deno.test("nackBackoffMs doubles from 1s and stops at 60s", () => {
  assert.deepEqual([1, 2, 3, 4, 7, 8, 50].map(nackBackoffMs), [1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
});

Deno.test("busSettings: defaults, parsing and strictness", () => {
  const defaults = busSettings(new URL("mem://t"), "bus", false);
  assert.deepEqual(defaults, { ackDeadlineMs: DEFAULT_ACK_DEADLINE_MS, duplicate: 1, pollMs: 100 });
  const set = busSettings(new URL("file:///d?ackdeadline=1m30s&duplicate=3&poll=5ms"), "bus", true);
  assert.deepEqual(set, { ackDeadlineMs: 90_000, duplicate: 3, pollMs: 5 });
  assert.throws(() => busSettings(new URL("mem://t?duplicate=2&duplicate=3"), "bus", false), /given twice/);
  assert.throws(() => busSettings(new URL("mem://t?ackdeadline=0"), "bus", false), /at least 1ms/);
});
