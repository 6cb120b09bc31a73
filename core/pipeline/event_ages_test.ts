/**
 * Tests of event ages (event_ages.ts): a received event reports its age at once; while every
 * handler is busy the oldest event in hand is reported again and again, and nothing is reported
 * when a handler is free or nothing is in hand; an unreadable envelope is not counted.
 *
 * @module
 */

import assert from "node:assert/strict";
import { EventAges } from "./event_ages.ts";

const PUBLISHED = new Date("2026-12-03T12:00:00Z");
const stamp = (offsetMs: number) => new Date(PUBLISHED.getTime() + offsetMs).toISOString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("event ages: at receipt, then the oldest in hand's while every handler is busy", async () => {
  let now = PUBLISHED.getTime() + 1_000;
  let busy = false;
  const reports: number[] = [];
  const ages = new EventAges((ms) => reports.push(ms), () => new Date(now), () => busy, 5);
  try {
    const older = ages.received(stamp(0));
    const newer = ages.received(stamp(600));
    assert.deepEqual(reports, [1_000, 400], "each event's age when received");
    assert.equal(ages.received(undefined), undefined, "no envelope");
    assert.equal(ages.received("yesterday"), undefined, "not a time");
    await sleep(30);
    assert.equal(reports.length, 2, "a handler is free: nothing more");
    busy = true;
    now += 5_000;
    await sleep(30);
    assert.ok(reports.length > 2 && reports.slice(2).every((ms) => ms === 6_000), `${reports}`);
    ages.done(older);
    reports.length = 0;
    await sleep(30);
    assert.ok(reports.length > 0 && reports.every((ms) => ms === 5_400), "the oldest one left in hand");
    ages.done(newer);
    reports.length = 0;
    await sleep(30);
    assert.deepEqual(reports, [], "nothing in hand");
  } finally {
    ages.stop();
  }
});
