/**
 * In-process tests of the web page's routes (core/web/routes.ts) as the server app mounts them:
 * pages and assets, the bearer token on the JSON routes, agreement of the JSON with `inspect`
 * and `explain`, escaping of hostile names, the per-version cache, and the page script passing
 * `deno lint`. The browser test is web_page_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import type { BlobStore } from "../core/blob.ts";
import { writeBaseState } from "../core/pipeline/base_state.ts";
import { baseKey } from "../core/pipeline/keys.ts";
import { createServerApp } from "../core/pipeline/server_app.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { edgeMap } from "../core/pprof/edges.ts";
import { encodeProfile } from "../core/pprof/encode.ts";
import { explainEdgeMap } from "../core/pprof/explain.ts";
import { mergeProfiles } from "../core/pprof/merge.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { summarizeProfile } from "../core/pprof/summary.ts";
import { FLAME_SCRIPT } from "../core/web/assets/flame_script.ts";
import { PAGE_SCRIPT } from "../core/web/assets/page_script.ts";
import type { AppListEntry, AppReport, FlameGraph } from "../core/web/routes.ts";
import { CONTENT_SECURITY_POLICY } from "../core/web/security_headers.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { HOSTILE_NAMES, hostileProfile } from "./support/web_profiles.ts";

const cpu = await Promise.all(committedProfiles().cpu.map((p) => Deno.readFile(p)));

async function putBase(store: BlobStore, app: string, p: Profile, merged?: number): Promise<void> {
  p.comments = writeBaseState(p.comments, { absorbed: [], deletedBefore: 0n, merged });
  await store.write(baseKey(app), encodeProfile(p));
}

async function setup(token?: string) {
  const store = await openMemBlobStore("mem://");
  const hono = createServerApp({
    store,
    publisher: { publish: () => Promise.resolve() },
    clock: () => new Date(),
    randomSuffix: () => crypto.randomUUID().slice(0, 8),
    healthChecks: [],
    token,
  });
  const get = (path: string, auth?: string) =>
    hono.fetch(new Request(`http://x${path}`, { headers: auth ? { authorization: `Bearer ${auth}` } : {} }));
  return { store, get };
}

Deno.test("webRoutes: / and /app/:app are HTML shells with the CSP, their assets come from the program", async () => {
  const { get } = await setup();
  const index = await get("/");
  assert.equal(index.status, 200);
  assert.match(index.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(index.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
  const html = await index.text();
  assert.match(html, /data-page="index" data-auth="none"/);
  const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[0-9a-f]{8}\/[^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(
    new Set(assets.map((a) => a.split("/").pop())),
    new Set(["autopgo.svg", "autopgo.css", "autopgo.js"]),
  );
  for (const path of assets) {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("cache-control") ?? "", /immutable/);
    assert.ok((await res.text()).length > 100);
  }
  assert.equal((await get("/assets/00000000/autopgo.js")).status, 404);
  const app = await get("/app/checkout");
  assert.equal(app.status, 200);
  assert.match(await app.text(), /<h1 class="app-name">checkout<\/h1>/);
});

Deno.test("webRoutes: a bad app name on a page is a 400 page with the name escaped", async () => {
  const { get } = await setup();
  const res = await get(`/app/${encodeURIComponent("<script>alert(1)</script>")}`);
  assert.equal(res.status, 400);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const html = await res.text();
  assert.ok(!html.includes("<script>alert"), html);
  assert.match(html, /invalid app name: app name &quot;&lt;script&gt;alert\(1\)&lt;\/script&gt;&quot;/);
  const api = await get(`/api/profile/${encodeURIComponent("<b>")}/report`);
  assert.equal(api.status, 400);
  assert.equal((await api.json()).code, 400);
});

Deno.test("webRoutes: with --token the JSON routes need the bearer token and the pages ask for it", async () => {
  const { store, get } = await setup("s3cret");
  await putBase(store, "svc", decodeProfile(cpu[0]), 1);
  const html = await (await get("/")).text();
  assert.match(html, /data-auth="required"/);
  assert.equal((await get("/app/svc")).status, 200);
  for (const path of ["/api/apps", "/api/profile/svc/report", "/api/profile/svc/flamegraph"]) {
    const refused = await get(path);
    assert.equal(refused.status, 401, path);
    assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="autopgo"');
    assert.deepEqual(await refused.json(), { message: "missing bearer token", code: 401 });
    assert.equal((await get(path, "wrong")).status, 401);
    const ok = await get(path, "s3cret");
    assert.equal(ok.status, 200, path);
    await ok.body?.cancel();
  }
});

Deno.test("webRoutes: the list, report and flame graph agree with inspect and explain", async () => {
  const { store, get } = await setup();
  const merged = mergeProfiles(cpu.map((b) => decodeProfile(b)));
  await putBase(store, "checkout", merged, cpu.length);
  await putBase(store, "legacy", decodeProfile(cpu[0]));
  const list = (await (await get("/api/apps")).json()).apps as AppListEntry[];
  assert.deepEqual(list.map((a) => [a.app, a.uploadsMerged]), [["checkout", cpu.length], ["legacy", null]]);
  const stored = await store.read(baseKey("checkout"));
  assert.equal(list[0].bytes, stored.data.byteLength);
  assert.equal(list[0].lastModified, stored.modified.toISOString());

  const report = await (await get("/api/profile/checkout/report")).json() as AppReport;
  const decoded = decodeProfile(stored.data);
  assert.deepEqual(report.summary, JSON.parse(JSON.stringify(summarizeProfile(decoded, { top: 20 }))));
  const expected = explainEdgeMap(edgeMap(decoded), {
    file: "checkout/default.pgo",
    format: "pprof",
    sampleType: "samples/count",
  });
  assert.deepEqual(report.explain, JSON.parse(JSON.stringify(expected)));
  assert.ok(report.explain.hotEdges.length > 0);
  assert.equal(report.uploadsMerged, cpu.length);

  const flame = await (await get("/api/profile/checkout/flamegraph")).json() as FlameGraph;
  assert.equal(flame.sampleType, report.summary.rankedBy);
  assert.equal(flame.total, report.summary.totals.find((t) => `${t.type}/${t.unit}` === flame.sampleType)?.total);
  assert.ok(flame.names.includes(report.summary.topFlat[0].name));

  assert.equal((await get("/api/profile/absent/report")).status, 404);
  assert.deepEqual(await (await get("/api/profile/absent/flamegraph")).json(), { message: "Not Found", code: 404 });
});

Deno.test("webRoutes: a profile the compiler ignores still has a report that says why", async () => {
  const { store, get } = await setup();
  await putBase(store, "heap", decodeProfile(await Deno.readFile(committedProfiles().heap)));
  const report = await (await get("/api/profile/heap/report")).json() as AppReport;
  assert.match(report.explain.ignoredReason, /samples\/count/);
  assert.equal(report.summary.pgo.usable, false);
  const flame = await (await get("/api/profile/heap/flamegraph")).json() as FlameGraph;
  assert.ok(flame.total > 0);
});

Deno.test("webRoutes: hostile function names reach the browser only as JSON strings", async () => {
  const { store, get } = await setup();
  await putBase(store, "evil", hostileProfile(), 1);
  const flame = await (await get("/api/profile/evil/flamegraph")).json() as FlameGraph;
  for (const name of HOSTILE_NAMES) assert.ok(flame.names.includes(name), name);
  const report = await (await get("/api/profile/evil/report")).json() as AppReport;
  assert.deepEqual(new Set(report.summary.topCum.map((f) => f.name)), new Set(HOSTILE_NAMES));
  const page = await (await get("/app/evil")).text();
  for (const name of HOSTILE_NAMES) assert.ok(!page.includes(name), name);
});

Deno.test("webRoutes: views follow a new merge of the base and its deletion", async () => {
  const { store, get } = await setup();
  await putBase(store, "svc", decodeProfile(cpu[0]), 1);
  const first = await (await get("/api/profile/svc/report")).json() as AppReport;
  assert.deepEqual(await (await get("/api/profile/svc/report")).json(), first);
  await putBase(store, "svc", mergeProfiles([decodeProfile(cpu[0]), decodeProfile(cpu[1])]), 2);
  const second = await (await get("/api/profile/svc/report")).json() as AppReport;
  assert.equal(second.uploadsMerged, 2);
  assert.notEqual(second.summary.counts.samples, first.summary.counts.samples);
  assert.equal(((await (await get("/api/apps")).json()).apps as AppListEntry[])[0].uploadsMerged, 2);
  await store.delete(baseKey("svc"));
  assert.equal((await get("/api/profile/svc/report")).status, 404);
  assert.deepEqual((await (await get("/api/apps")).json()).apps, []);
});

Deno.test("web assets: the page script is JavaScript that passes deno lint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-web-lint-" });
  try {
    await Deno.writeTextFile(`${dir}/autopgo.js`, `${FLAME_SCRIPT}\n${PAGE_SCRIPT}`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["lint", "--no-config", "autopgo.js"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /Checked 1 file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
