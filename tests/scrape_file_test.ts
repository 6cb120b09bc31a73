/**
 * End-to-end test of `autopgo scrape` in file mode: two instances of the real Go fixture service
 * (net/http/pprof) plus a hanging and a dead target, scraped into a real embedded server; the
 * downloaded profile holds the fixture's hot functions; SIGHUP switches targets; a bad file on
 * reload keeps the old list and turns health unhealthy; SIGTERM exits 0.
 *
 * @module
 */

import assert from "node:assert/strict";
import { skipUnlessGo } from "./support/go.ts";
import { committedProfiles, type HotpathServer, startHotpathServer } from "./support/fixtures.ts";
import { type AutopgoProcess, eventually, spawnAutopgo, startAutopgoServer } from "./support/autopgo_processes.ts";
import { startFakePprofTarget, startHangingTarget } from "./support/fake_targets.ts";
import { runAutopgo } from "./support/cli.ts";
import { decodeProfile } from "../core/pprof/mod.ts";

const NAME = "scrape file mode: two Go services into a real server, SIGHUP switch, hung and dead targets";

/** `profiled "<url>"` log lines at index ≥ from, as profile URLs. */
function profiledUrls(proc: AutopgoProcess, from = 0): string[] {
  return proc.lines.slice(from).flatMap((l) => {
    const m = l.match(/profiled "?(http:\/\/[^"\s]+)"?: \d+ bytes/);
    return m ? [m[1]] : [];
  });
}

async function health(
  port: number,
): Promise<{ status: number; body: { dependencies: { name: string; message?: string }[] } }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/health`);
  return { status: res.status, body: await res.json() };
}

Deno.test({ name: NAME, sanitizeResources: false, sanitizeOps: false }, async () => {
  if (!skipUnlessGo(NAME)) return;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const dir = await Deno.makeTempDir({ prefix: "autopgo-scrape-test-" });
  cleanups.push(() => Deno.remove(dir, { recursive: true }));
  try {
    const server = await startAutopgoServer();
    cleanups.push(() => server.close());
    const services: HotpathServer[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await startHotpathServer();
      services.push(s);
      cleanups.push(() => s.close());
    }
    const hanging = startHangingTarget();
    cleanups.push(() => hanging.close());
    const deadListener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = `http://127.0.0.1:${deadListener.addr.port}`;
    deadListener.close();
    const fake = startFakePprofTarget(await Deno.readFile(committedProfiles().cpu[2]));
    cleanups.push(() => fake.close());

    const targetsFile = `${dir}/targets.json`;
    const initial = [...services.map((s) => ({ address: s.address })), { address: hanging.url }, { address: dead }];
    await Deno.writeTextFile(targetsFile, JSON.stringify(initial));
    const scraper = spawnAutopgo([
      "scrape",
      targetsFile,
      "--app=hotpath",
      "--sample-size=4",
      "--duration=1s",
      "--frequency=2s",
      "--target-timeout=4s",
      "--port=0",
      "--host=127.0.0.1",
      `--api-url=${server.url}`,
    ]);
    cleanups.unshift(() => scraper.stop("SIGKILL"));
    const port = Number((await scraper.waitFor(/health server listening on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
    const ok = await health(port);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.dependencies.map((d) => d.name), [`file://${targetsFile}`]);

    // Round 1 profiles both services; the hung target hits its deadline, the dead one fails fast.
    await scraper.waitFor(/failed to profile target "?http:\/\/127\.0\.0\.1:\d+.*no complete profile within 4000ms/);
    await scraper.waitFor(new RegExp(`failed to profile target "?${dead}`));
    const started = Date.now();
    await eventually("both services profiled twice", () => {
      const urls = profiledUrls(scraper);
      return Promise.resolve(services.every((s) => urls.filter((u) => u.startsWith(s.address)).length >= 2));
    }, 20_000);
    assert.ok(Date.now() - started < 15_000, "the hung target did not stall the rounds");
    assert.ok(profiledUrls(scraper).every((u) => u.endsWith("/debug/pprof/profile?seconds=1")));

    // The merged profile holds the Go service's hot functions.
    const out = `${dir}/default.pgo`;
    let seen = "no download yet";
    const names = await eventually("hot functions in the merged profile", async () => {
      const dl = await runAutopgo(["download", "hotpath", "-o", out, "-u", server.url]);
      if (dl.code !== 0) {
        seen = dl.stderr.trim();
        return false;
      }
      const profile = decodeProfile(await Deno.readFile(out));
      const fns = new Set(profile.function.map((f) => f.name));
      seen = `${profile.sample.length} samples, functions ${[...fns].filter((n) => n.startsWith("main.")).join(", ")}`;
      return fns.has("main.runEndpoint") ? fns : false;
    }).catch((e) => {
      throw new Error(`${e.message}; last seen: ${seen}`);
    });
    assert.ok(
      ["main.totalGeometry", "main.hashBlocks", "main.interpret", "main.sortRecords", "main.route"].some((f) =>
        names.has(f)
      ),
      `a workload function is in the profile: ${[...names].filter((n) => n.startsWith("main.")).join(", ")}`,
    );

    // Rewrite the file and send SIGHUP: only the new target is scraped from the next round on.
    await Deno.writeTextFile(targetsFile, JSON.stringify([{ address: fake.url }]));
    const before = scraper.lines.length;
    scraper.child.kill("SIGHUP");
    const reloaded = await scraper.waitFor(/reloaded 1 targets/, 10_000, before);
    const firstFake = await scraper.waitFor(new RegExp(`profiled "?${fake.url}`), 20_000, reloaded.line);
    await eventually("new target profiled again", () => Promise.resolve(fake.hits >= 2), 20_000);
    await scraper.waitFor(new RegExp(`profiled "?${fake.url}`), 20_000, firstFake.line + 1);
    const after = scraper.lines.slice(firstFake.line).filter((l) => /profiled|failed to profile/.test(l));
    assert.ok(after.every((l) => l.includes(fake.url)), `only the new target after the switch: ${after.join(" | ")}`);

    // A bad file on reload keeps the list, logs why and turns health unhealthy.
    await Deno.writeTextFile(targetsFile, "[{ not json");
    const beforeBad = scraper.lines.length;
    scraper.child.kill("SIGHUP");
    await scraper.waitFor(/failed to read updated targets.*invalid JSON/, 10_000, beforeBad);
    const bad = await health(port);
    assert.equal(bad.status, 503);
    assert.match(bad.body.dependencies[0].message ?? "", /last reload failed/);
    const hits = fake.hits;
    await eventually("old list still scraped", () => Promise.resolve(fake.hits > hits), 20_000);

    assert.equal(await scraper.stop("SIGTERM"), 0, "SIGTERM exits 0");
    assert.match(scraper.lines.join("\n"), /shutting down/);
  } finally {
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch { /* best effort */ }
    }
  }
});
