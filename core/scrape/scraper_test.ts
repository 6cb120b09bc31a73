import assert from "node:assert/strict";
import {
  defaultTargetTimeout,
  type RoundReport,
  type ScrapeClock,
  Scraper,
  validateScraperSettings,
} from "./scraper.ts";
import type { ProfileUploader } from "./round.ts";
import type { Target, TargetSource } from "./target.ts";
import { runHealthChecks } from "../health.ts";

/** Virtual time: `sleep` advances it instantly; `advance` lets fake work take time. */
function fakeClock(): ScrapeClock & { t: number; sleeps: number[] } {
  const clock = {
    t: 1_000_000,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

/** A source whose list and failure can be changed between rounds. */
function fakeSource(targets: Target[]): TargetSource & { targets: Target[]; fail?: string } {
  const source: TargetSource & { targets: Target[]; fail?: string } = {
    name: "fake",
    targets,
    list: () => source.fail ? Promise.reject(new Error(source.fail)) : Promise.resolve(source.targets.slice()),
    check: () => source.fail ? Promise.reject(new Error(source.fail)) : Promise.resolve(),
  };
  return source;
}

const uploader: ProfileUploader = {
  async upload(app, body) {
    await Promise.resolve(body.byteLength);
    return { key: `${app}/staging/x` };
  },
};

/** A fetch that answers every profile request with 2 bytes, taking `workMs` of virtual time. */
function fakeTargets(clock: { t: number }, workMs: number, log: string[]): typeof fetch {
  let inFlight = 0;
  return async (input) => {
    inFlight++;
    log.push(`start ${new URL(String(input)).host} at ${clock.t} (in flight ${inFlight})`);
    await new Promise((r) => setTimeout(r, 1));
    clock.t += workMs;
    inFlight--;
    return new Response(new Uint8Array([1, 2]));
  };
}

Deno.test("scraper runs a first round at start, then one per frequency, never overlapping", async () => {
  const clock = fakeClock();
  const start = clock.t;
  const log: string[] = [];
  const reports: RoundReport[] = [];
  const stop = new AbortController();
  const scraper = new Scraper({
    app: "demo",
    source: fakeSource([{ address: "http://a:1" }, { address: "http://b:1" }, { address: "http://c:1" }]),
    uploader,
    sampleSize: 2,
    frequencyMs: 60_000,
    durationMs: 10_000,
    fetch: fakeTargets(clock, 10_000, log),
    random: () => 0,
    clock,
    onRound: (r) => {
      reports.push(r);
      if (reports.length === 3) stop.abort();
    },
  });
  await scraper.run(stop.signal);
  assert.equal(reports.length, 3);
  for (const r of reports) {
    assert.equal(r.results.length, 2, "sample size respected");
    assert.ok(r.results.every((x) => x.ok));
  }
  // Round starts: t0, t0+60s, t0+120s (each round took 20s of virtual time: two sequential fake fetches).
  const starts = log.filter((_, i) => i % 2 === 0).map((l) => Number(l.match(/at (\d+)/)![1]) - start);
  assert.deepEqual(starts, [0, 60_000, 120_000]);
  assert.deepEqual(clock.sleeps, [40_000, 40_000]);
  assert.ok(log.every((l) => /in flight [12]\)/.test(l)), "never more than sample-size targets at once");
});

Deno.test("a round longer than the frequency is followed immediately by the next", async () => {
  const clock = fakeClock();
  const stop = new AbortController();
  let rounds = 0;
  const scraper = new Scraper({
    app: "demo",
    source: fakeSource([{ address: "http://a:1" }]),
    uploader,
    sampleSize: 1,
    frequencyMs: 5_000,
    durationMs: 1_000,
    fetch: fakeTargets(clock, 9_000, []),
    clock,
    onRound: () => ++rounds === 2 && stop.abort(),
  });
  await scraper.run(stop.signal);
  assert.deepEqual(clock.sleeps, [], "no sleep after an overlong round");
});

Deno.test("a failing discovery keeps the last good list and turns health unhealthy until it recovers", async () => {
  const clock = fakeClock();
  const source = fakeSource([{ address: "http://a:1" }, { address: "http://b:1" }]);
  const scraper = new Scraper({
    app: "demo",
    source,
    uploader,
    sampleSize: 5,
    frequencyMs: 1000,
    durationMs: 1000,
    fetch: fakeTargets(clock, 0, []),
    clock,
  });
  const signal = new AbortController().signal;
  const first = await scraper.runOnce(signal);
  assert.equal(first.results.length, 2);
  assert.equal((await runHealthChecks([scraper.healthCheck()])).status, "healthy");

  source.fail = "consul: GET /v1/catalog/services answered 500: No cluster leader";
  source.targets = [];
  const during = await scraper.runOnce(signal);
  assert.equal(during.discoveryError, source.fail);
  assert.deepEqual(during.results.map((r) => r.target.address).sort(), ["http://a:1", "http://b:1"]);
  const report = await runHealthChecks([scraper.healthCheck()]);
  assert.equal(report.status, "unhealthy");
  assert.match(report.dependencies[0].message ?? "", /No cluster leader/);

  // The live check passes again but the scraper still runs on a stale list until the next round.
  source.fail = undefined;
  source.targets = [{ address: "http://c:1" }];
  assert.equal((await runHealthChecks([scraper.healthCheck()])).status, "unhealthy");
  const after = await scraper.runOnce(signal);
  assert.equal(after.discoveryError, undefined);
  assert.deepEqual(after.results.map((r) => r.target.address), ["http://c:1"]);
  assert.equal((await runHealthChecks([scraper.healthCheck()])).status, "healthy");
});

Deno.test("duplicate discovered targets are profiled once per round", async () => {
  const clock = fakeClock();
  const scraper = new Scraper({
    app: "demo",
    source: fakeSource([{ address: "http://a:1" }, { address: "http://a:1" }]),
    uploader,
    sampleSize: 5,
    frequencyMs: 1000,
    durationMs: 1000,
    fetch: fakeTargets(clock, 0, []),
    clock,
  });
  const report = await scraper.runOnce(new AbortController().signal);
  assert.equal(report.results.length, 1);
});

Deno.test("scraper settings are validated with clear errors", () => {
  const base = { sampleSize: 1, frequencyMs: 60_000, durationMs: 30_000 };
  assert.equal(validateScraperSettings(base), 30);
  assert.throws(
    () => validateScraperSettings({ ...base, sampleSize: 0 }),
    /sample size must be an integer of at least 1/,
  );
  assert.throws(() => validateScraperSettings({ ...base, frequencyMs: 0 }), /frequency must be greater than 0/);
  assert.throws(() => validateScraperSettings({ ...base, durationMs: 2500 }), /whole seconds/);
  assert.throws(
    () => validateScraperSettings({ ...base, targetTimeoutMs: 30_000 }),
    /must be longer than the duration/,
  );
  assert.equal(defaultTargetTimeout(30_000), 40_000);
  assert.equal(defaultTargetTimeout(300_000), 375_000, "minutes-long profiles get proportional grace");
});

Deno.test("Scraper: an idle target's profile (no samples) is not uploaded", async () => {
  const { encodeProfile } = await import("../pprof/encode.ts");
  const { decodeProfile } = await import("../pprof/decode.ts");
  const { committedProfiles } = await import("../../tests/support/fixtures.ts");
  const idle = encodeProfile({ ...decodeProfile(Deno.readFileSync(committedProfiles().cpu[0])), sample: [] });
  const uploads: number[] = [];
  const scraper = new Scraper({
    app: "demo",
    source: fakeSource([{ address: "http://a:1" }]),
    uploader: { upload: (app, body) => (uploads.push(body.byteLength), Promise.resolve({ key: `${app}/staging/x` })) },
    sampleSize: 1,
    frequencyMs: 1000,
    durationMs: 1000,
    fetch: () => Promise.resolve(new Response(idle as BodyInit)),
    clock: fakeClock(),
  });
  const report = await scraper.runOnce(new AbortController().signal);
  assert.deepEqual(report.results.map((r) => [r.ok, r.ok && r.idle]), [[true, true]]);
  assert.deepEqual(uploads, []);
  assert.equal((await runHealthChecks([scraper.healthCheck()])).status, "healthy", "idle is not a failure");
});

Deno.test("Scraper: health turns 503 after N rounds in which every target failed, and back", async () => {
  let failing = true;
  const scraper = new Scraper({
    app: "demo",
    source: fakeSource([{ address: "http://a:1" }, { address: "http://b:1" }]),
    uploader,
    sampleSize: 2,
    frequencyMs: 1000,
    durationMs: 1000,
    fetch: () => Promise.resolve(failing ? new Response("busy", { status: 500 }) : new Response(new Uint8Array([1]))),
    clock: fakeClock(),
    unhealthyAfterRounds: 2,
  });
  const signal = new AbortController().signal;
  await scraper.runOnce(signal);
  assert.equal((await runHealthChecks([scraper.healthCheck()])).status, "healthy", "one failed round is not enough");
  await scraper.runOnce(signal);
  const report = await runHealthChecks([scraper.healthCheck()]);
  assert.equal(report.status, "unhealthy");
  assert.match(report.message ?? "", /every target failed in the last 2 rounds: http:\/\/[ab]:1.*answered 500: busy/);
  failing = false;
  await scraper.runOnce(signal);
  assert.equal((await runHealthChecks([scraper.healthCheck()])).status, "healthy");
});
