/** Unit test of the steady-load benchmark's summary of RSS samples. @module */

import assert from "node:assert/strict";
import { type RssSample, summariseRss } from "./steady.ts";

Deno.test("summariseRss: warm-up and end medians, growth, slope and per-minute medians of the samples", () => {
  // 10 minutes, one sample every 5 s: 100 MiB during a 2-minute warm-up, then 110 MiB rising by 1 MiB a minute.
  const samples: RssSample[] = Array.from({ length: 120 }, (_, i) => {
    const t = i * 5;
    return { t, rssMiB: t < 120 ? 100 : 110 + (t - 120) / 60, cpuS: 0 };
  });
  const s = summariseRss(samples, 120);
  assert.ok(Math.abs(s.warmRssMiB - 110.5) < 0.1, `warm ${s.warmRssMiB}`);
  assert.ok(Math.abs(s.endRssMiB - 117.5) < 0.1, `end ${s.endRssMiB}`);
  assert.ok(Math.abs(s.growth - (s.endRssMiB / s.warmRssMiB - 1)) < 1e-12);
  assert.ok(Math.abs(s.slopeMiBPerMin - 1) < 1e-9, `slope ${s.slopeMiBPerMin}`);
  assert.equal(s.minAfterWarmMiB, 110);
  assert.equal(s.perMinute.length, 10);
  assert.equal(s.perMinute[0], 100);
});
