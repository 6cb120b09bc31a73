/**
 * A deployment of the original switches to autopgo without edits: the CLI and the scraper reach
 * servers and targets on ports browsers block (6666, 6000), the original's log level spellings
 * never stop a component, `--debug` serves autopgo's own CPU profile on `/debug/pprof/` (which
 * autopgo can scrape into itself), and no stored file but `<app>/default.pgo` ends in
 * `default.pgo` (the original's server lists those as apps). Real processes on 127.0.0.1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { nodeFetch } from "../core/http_fetch.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { checkPgo } from "../core/pprof/pgo.ts";
import { runAutopgo } from "./support/cli.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { eventually, spawnAutopgo, startAutopgoServer } from "./support/autopgo_processes.ts";

const PROFILE = () => Deno.readFile(committedProfiles().cpu[0]);

/** Uploads the committed profile to `app` over and over until `signal` aborts (CPU work for the server). */
async function keepBusy(url: string, app: string, signal: AbortSignal): Promise<void> {
  const body = await PROFILE();
  while (!signal.aborted) {
    await Promise.all(
      Array.from(
        { length: 4 },
        () => nodeFetch(`${url}/api/profile/${app}`, { method: "POST", body }).then((r) => r.body?.cancel(), () => {}),
      ),
    );
  }
}

/** Every file under `dir` (relative paths). */
async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) out.push(...await filesUnder(dir, rel));
    else out.push(rel);
  }
  return out;
}

Deno.test({
  name:
    "blocked ports: list reaches a server on :6666 and scrape a target on :6000; only default.pgo ends in default.pgo",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const server = await startAutopgoServer(["--port", "6666"]);
  const profile = await PROFILE();
  const target = Deno.serve({ hostname: "127.0.0.1", port: 6000, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname !== "/debug/pprof/profile") return new Response("not found\n", { status: 404 });
    return new Response(profile as BodyInit, { headers: { "content-type": "application/octet-stream" } });
  });
  const dir = await Deno.makeTempDir({ prefix: "autopgo-blocked-ports-" });
  try {
    assert.equal(server.url, "http://127.0.0.1:6666");
    const empty = await runAutopgo(["list", "-u", "http://127.0.0.1:6666"]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.doesNotMatch(empty.stderr, /blocked/);

    const targets = join(dir, "targets.json");
    await Deno.writeTextFile(targets, JSON.stringify([{ address: "http://127.0.0.1:6000" }]));
    const scraper = spawnAutopgo([
      "scrape",
      targets,
      "--app=blocked-ports",
      "--sample-size=1",
      "--duration=1s",
      "--frequency=1m",
      "--port=0",
      "--host=127.0.0.1",
      "--api-url=http://127.0.0.1:6666",
    ]);
    try {
      await scraper.waitFor(/profiled "?http:\/\/127\.0\.0\.1:6000\/debug\/pprof\/profile\?seconds=1"?: \d+ bytes/);
    } finally {
      assert.equal(await scraper.stop(), 0);
    }
    const listed = await eventually("the scraped app is listed", async () => {
      const r = await runAutopgo(["list", "--json", "-u", "http://127.0.0.1:6666"]);
      return r.code === 0 && r.stdout.includes("blocked-ports") ? r.stdout : false;
    });
    assert.deepEqual(JSON.parse(listed).profiles.map((p: { key: string }) => p.key), ["blocked-ports"]);
    const out = join(dir, "default.pgo");
    const dl = await runAutopgo(["download", "blocked-ports", "-o", out, "-u", "http://127.0.0.1:6666"]);
    assert.equal(dl.code, 0, dl.stderr);
    assert.ok(checkPgo(decodeProfile(await Deno.readFile(out))).usable);

    // An original server sharing this store lists every key ending in default.pgo as an app.
    const files = await filesUnder(server.dataDir);
    assert.deepEqual(files.filter((f) => f.endsWith("default.pgo")), ["blocked-ports/default.pgo"]);
  } finally {
    await target.shutdown();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "log levels: server and worker start with the original's spellings and fall back to info on others",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const server = await startAutopgoServer([], { env: { AUTOPGO_LOG_LEVEL: "trace" } });
  try {
    await server.waitFor(/unknown log level "trace"; using info/);
  } finally {
    assert.equal(await server.close(), 0);
  }
  const dir = await Deno.makeTempDir({ prefix: "autopgo-log-levels-" });
  const store = `file://${dir}/blobs`;
  const bus = `file://${dir}/bus`;
  try {
    for (const level of ["WARN", "warning", "Info", "nonsense"]) {
      const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = probe.addr.port;
      probe.close();
      const worker = spawnAutopgo([
        "worker",
        `--port=${port}`,
        "--host=127.0.0.1",
        `--blob-store-url=${store}`,
        `--event-reader-url=${bus}`,
        `--event-writer-url=${bus}`,
      ], { env: { AUTOPGO_LOG_LEVEL: level } });
      try {
        await eventually(`worker with AUTOPGO_LOG_LEVEL=${level} ready`, async () => {
          const res = await nodeFetch(`http://127.0.0.1:${port}/api/ready`);
          await res.body?.cancel();
          return res.status === 200;
        });
      } finally {
        assert.equal(await worker.stop(), 0, worker.lines.join("\n"));
      }
      const quiet = level.toLowerCase().startsWith("warn");
      assert.equal(worker.lines.some((l) => /listening on/.test(l)), !quiet, `${level}: ${worker.lines.join("\n")}`);
      assert.equal(worker.lines.some((l) => /unknown log level/.test(l)), level === "nonsense");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "--debug serves autopgo's CPU profile on /debug/pprof/ in pprof format, and autopgo scrapes itself",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const server = await startAutopgoServer(["--debug"]);
  const busy = new AbortController();
  const load = keepBusy(server.url, "load", busy.signal);
  const dir = await Deno.makeTempDir({ prefix: "autopgo-debug-" });
  try {
    await server.waitFor(/serving autopgo's CPU profile on http:\/\/127\.0\.0\.1:\d+\/debug\/pprof\/profile/);
    const res = await nodeFetch(`${server.url}/debug/pprof/profile?seconds=1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    const profile = decodeProfile(new Uint8Array(await res.arrayBuffer()));
    assert.deepEqual(profile.sampleType, [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }]);
    assert.deepEqual(profile.periodType, { type: "cpu", unit: "nanoseconds" });
    assert.equal(profile.period, 10_000_000);
    assert.ok(profile.durationNanos >= 900_000_000n && profile.durationNanos < 5_000_000_000n);
    assert.ok(profile.sample.length > 0, "the busy server was sampled");
    for (const s of profile.sample) assert.equal(s.value[1], s.value[0] * profile.period);
    assert.ok(profile.function.some((f) => f.filename.startsWith("file://")), "autopgo's own modules appear");

    const [index, unknown, concurrent] = await Promise.all([
      nodeFetch(`${server.url}/debug/pprof/`),
      nodeFetch(`${server.url}/debug/pprof/heap`),
      (async () => {
        const first = nodeFetch(`${server.url}/debug/pprof/profile?seconds=1`);
        await new Promise((r) => setTimeout(r, 300));
        const second = await nodeFetch(`${server.url}/debug/pprof/profile?seconds=1`);
        await (await first).body?.cancel();
        return second;
      })(),
    ]);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /profile\?seconds=30/);
    assert.equal(unknown.status, 404);
    assert.equal(await unknown.text(), "Unknown profile\n");
    assert.equal(concurrent.status, 500);
    assert.match(await concurrent.text(), /cpu profiling already in use/);

    // autopgo scrapes its own /debug/pprof/profile and stores it like any Go service's profile.
    const targets = join(dir, "targets.json");
    await Deno.writeTextFile(targets, JSON.stringify([{ address: server.url }]));
    const scraper = spawnAutopgo([
      "scrape",
      targets,
      "--app=autopgo",
      "--sample-size=1",
      "--duration=1s",
      "--frequency=1m",
      "--port=0",
      "--host=127.0.0.1",
      `--api-url=${server.url}`,
    ]);
    try {
      await scraper.waitFor(
        /profiled "?http:\/\/127\.0\.0\.1:\d+\/debug\/pprof\/profile\?seconds=1"?: \d+ bytes uploaded/,
      );
    } finally {
      assert.equal(await scraper.stop(), 0);
    }
  } finally {
    busy.abort();
    await load;
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "--debug with --token: /debug/pprof/ requires the bearer token; AUTOPGO_DEBUG=false leaves it off",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const server = await startAutopgoServer(["--token", "s3cret"], { env: { AUTOPGO_DEBUG: "true" } });
  try {
    const denied = await nodeFetch(`${server.url}/debug/pprof/`);
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const allowed = await nodeFetch(`${server.url}/debug/pprof/`, { headers: { authorization: "Bearer s3cret" } });
    assert.equal(allowed.status, 200);
    await allowed.body?.cancel();
  } finally {
    await server.close();
  }
  const off = await startAutopgoServer([], { env: { AUTOPGO_DEBUG: "true", AUTOPGO_SERVER_DEBUG: "false" } });
  try {
    const res = await nodeFetch(`${off.url}/debug/pprof/`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  } finally {
    await off.close();
  }
});

Deno.test({
  name: "--debug on the worker and the scraper serves their CPU profiles on their health ports",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-debug-components-" });
  const targets = join(dir, "targets.json");
  await Deno.writeTextFile(targets, "[]");
  const worker = spawnAutopgo([
    "worker",
    "--debug",
    "--port=0",
    "--host=127.0.0.1",
    `--blob-store-url=file://${dir}/blobs`,
    `--event-reader-url=file://${dir}/bus`,
    `--event-writer-url=file://${dir}/bus`,
  ]);
  const scraper = spawnAutopgo(
    ["scrape", targets, "--app=x", "--sample-size=1", "--port=0", "--host=127.0.0.1", "--api-url=http://127.0.0.1:9"],
    { env: { AUTOPGO_SCRAPE_DEBUG: "1" } },
  );
  try {
    const urls = [
      (await worker.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1],
      (await scraper.waitFor(/health server listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1],
    ];
    for (const url of urls) {
      const res = await nodeFetch(`${url}/debug/pprof/profile?seconds=1`);
      assert.equal(res.status, 200, url);
      const profile = decodeProfile(new Uint8Array(await res.arrayBuffer()));
      assert.deepEqual(profile.periodType, { type: "cpu", unit: "nanoseconds" });
    }
  } finally {
    assert.equal(await worker.stop(), 0);
    assert.equal(await scraper.stop(), 0);
    await Deno.remove(dir, { recursive: true });
  }
});
