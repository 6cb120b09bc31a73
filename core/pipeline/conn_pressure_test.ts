/**
 * Which connection makes room at the cap (conn_pressure.ts): stalling states after their grace,
 * rates of late, never a request being answered or a body arriving at a fair rate; the heaviest client first (an address, an IPv6 /64),
 * then the slowest, then the oldest.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  clientKey,
  ConnectionActivity,
  EVICTION_GRACE_MS,
  type PlacedConnection,
  RECENT_MS,
  SLOW_BODY_BYTES_PER_SECOND,
  stalest,
} from "./conn_pressure.ts";

const GRACE = EVICTION_GRACE_MS;

Deno.test("pressure: a connection that sent nothing stalls once its grace has passed", () => {
  const activity = new ConnectionActivity(0);
  assert.equal(activity.stalling(GRACE - 1), undefined);
  assert.equal(activity.stalling(GRACE), 0);
});

Deno.test("pressure: a slow head or a framing-less stream stalls at its rate", () => {
  const head = new ConnectionActivity(0);
  head.clientBytes(10, "head", 1, true, 0);
  head.clientBytes(10, "head", 1, false, GRACE / 2);
  assert.equal(head.stalling(GRACE / 2), undefined, "within its grace");
  assert.equal(head.stalling(2 * GRACE), 20 * 1000 / (2 * GRACE));
  const raw = new ConnectionActivity(0);
  raw.clientBytes(100, "raw", 1, true, 0);
  assert.equal(raw.stalling(GRACE), 100 * 1000 / GRACE);
});

Deno.test("pressure: a body stalls only below the slow rate", () => {
  const slow = new ConnectionActivity(0);
  slow.clientBytes(64, "body", 1, true, 0); // the head ended in these bytes
  assert.equal(slow.stalling(GRACE), 64 * 1000 / GRACE);
  const fair = new ConnectionActivity(0);
  fair.clientBytes(100, "body", 1, true, 0);
  fair.clientBytes(SLOW_BODY_BYTES_PER_SECOND * 2, "body", 1, false, GRACE);
  assert.equal(fair.stalling(GRACE), undefined);
});

Deno.test("pressure: a body that came fast and then stopped stalls once its rate of late has fallen", () => {
  const activity = new ConnectionActivity(0);
  activity.clientBytes(100, "body", 1, true, 0);
  activity.clientBytes(50 * 1024 * 1024, "body", 1, false, 500);
  assert.equal(activity.stalling(GRACE), undefined, "still fast");
  assert.equal(activity.stallingBody(GRACE), false);
  const later = 500 + 2 * RECENT_MS; // no byte since: the rate is taken over the last windows only
  assert.equal(activity.stalling(later), 0);
  assert.equal(activity.stallingBody(later), true);
  activity.clientBytes(10, "body", 1, false, later); // a trickle does not make it fast again
  assert.ok(activity.stalling(later + 100)! < SLOW_BODY_BYTES_PER_SECOND);
});

Deno.test("pressure: a request being answered never stalls; an answered connection at rest does", () => {
  const activity = new ConnectionActivity(0);
  activity.clientBytes(80, "idle", 1, true, 0); // a whole request in one read
  assert.equal(activity.stalling(60_000), undefined, "the server works on it, however long");
  activity.serverBytes(60_000);
  assert.equal(activity.stalling(60_000 + GRACE - 1), undefined, "its answer just flowed");
  assert.equal(activity.stalling(60_000 + GRACE), 0, "at rest after its answer");
  activity.clientBytes(80, "idle", 2, true, 61_000); // the next request, pipelined whole
  assert.equal(activity.stalling(120_000), undefined, "a new request is worked on again");
});

Deno.test("pressure: the heaviest address first, then the slowest, then the oldest", () => {
  const now = 10 * GRACE;
  const at = (since: number, bytes: number, peer: string): PlacedConnection => {
    const activity = new ConnectionActivity(since);
    if (bytes > 0) {
      activity.clientBytes(1, "head", 1, true, since);
      activity.clientBytes(bytes, "head", 1, false, now - 100); // of late
    }
    return { activity, peer };
  };
  const quiet = at(1, 0, "10.0.0.1"), older = at(0, 0, "10.0.0.1"), trickling = at(0, 50, "10.0.0.1");
  const other = at(0, 0, "10.0.0.2");
  const fresh = at(now, 0, "10.0.0.1");
  const places = new Map([["10.0.0.1", 4], ["10.0.0.2", 1]]);
  assert.equal(stalest([trickling, other, quiet, older, fresh], places, now), older);
  assert.equal(stalest([trickling, other, quiet], places, now), quiet);
  assert.equal(stalest([trickling, other], places, now), trickling, "the heavier address before a slower one");
  assert.equal(stalest([other], places, now), other);
  assert.equal(stalest([fresh], places, now), undefined, "nothing stalls");
});

Deno.test("clientKey: IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64", () => {
  assert.equal(clientKey("127.0.0.1"), "127.0.0.1");
  assert.equal(clientKey("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(clientKey("::FFFF:10.1.2.3"), "10.1.2.3");
  assert.equal(clientKey("2001:db8:0:1:aaaa::1"), "2001:db8:0:1::/64");
  assert.equal(clientKey("2001:0db8:0000:0001:ffff:ffff:ffff:ffff"), "2001:db8:0:1::/64");
  assert.equal(clientKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(clientKey("::1"), "0:0:0:0::/64");
  assert.equal(clientKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(clientKey("fe80::2%eth1"), clientKey("fe80::1%eth0"));
});
