/**
 * End-to-end tests of `autopgo scrape --mode kube|nomad|consul`: the real CLI discovers targets
 * from local stand-ins of the Kubernetes, Nomad and Consul APIs (documented paths, selectors,
 * filters, auth headers and JSON), profiles them into a real embedded server, never scrapes
 * instances that are not ready/passing, and survives a discovery outage (health 503, last list
 * kept, recovery back to 200). SIGTERM exits 0.
 *
 * @module
 */

import assert from "node:assert/strict";
import { committedProfiles } from "./support/fixtures.ts";
import { eventually, spawnAutopgo, startAutopgoServer } from "./support/autopgo_processes.ts";
import {
  consulEntry,
  fakeKubeconfig,
  fakePod,
  type LocalServer,
  nomadRegistration,
  startFakeConsul,
  startFakeKube,
  startFakeNomad,
} from "./support/fake_apis.ts";
import { startFakePprofTarget } from "./support/fake_targets.ts";
import { ApiClient } from "../core/api_client.ts";

const TAGS = ["autopgo.scrape=true", "autopgo.scrape.app=shop"];
const LABELS = { "autopgo.scrape": "true", "autopgo.scrape.app": "shop" };
const profile = await Deno.readFile(committedProfiles().cpu[0]);

type Target = LocalServer & { hits: number };

/** Runs a scraper against a discovery stand-in and checks discovery, readiness filtering and an outage. */
async function exerciseMode(opts: {
  mode: string;
  dependency: string;
  api: LocalServer;
  ready: Target[];
  notReady: Target;
  serverUrl: string;
  args?: string[];
  env?: Record<string, string>;
}) {
  const scraper = spawnAutopgo([
    "scrape",
    ...(opts.args ?? []),
    `--mode=${opts.mode}`,
    "--app=shop",
    "--sample-size=5",
    "--duration=1s",
    "--frequency=1s",
    "--port=0",
    "--host=127.0.0.1",
    `--api-url=${opts.serverUrl}`,
  ], { env: opts.env });
  try {
    const port = Number((await scraper.waitFor(/health server listening on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/api/health`);
      return { status: res.status, body: await res.json() };
    };
    await eventually(
      `${opts.mode}: every ready target profiled`,
      () => Promise.resolve(opts.ready.every((t) => t.hits >= 1)),
    );
    await scraper.waitFor(/profiled .* bytes uploaded as "?shop\/staging\//);
    const ok = await health();
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.dependencies[0].name, opts.dependency);

    opts.api.outage = true;
    const during = await eventually(`${opts.mode}: unhealthy during the outage`, async () => {
      const h = await health();
      return h.status === 503 ? h : false;
    });
    assert.equal(during.body.dependencies[0].status, "unhealthy");
    assert.match(during.body.dependencies[0].message, /503/);
    await scraper.waitFor(/discovery from "?\w+"? failed, keeping the last 2 targets/);
    const hitsAtOutage = opts.ready.map((t) => t.hits);
    await eventually(
      `${opts.mode}: last good list still scraped during the outage`,
      () => Promise.resolve(opts.ready.every((t, i) => t.hits > hitsAtOutage[i] + 1)),
    );
    opts.api.outage = false;
    await eventually(`${opts.mode}: healthy after recovery`, async () => (await health()).status === 200);
    await scraper.waitFor(/discovery from "?\w+"? recovered/);

    assert.equal(opts.notReady.hits, 0, "an instance that is not ready/passing is never scraped");
    assert.equal(await scraper.stop("SIGTERM"), 0, "SIGTERM exits 0");
  } catch (e) {
    await scraper.stop("SIGKILL");
    throw new Error(`${(e as Error).message}\nscraper log tail:\n${scraper.lines.slice(-15).join("\n")}`);
  }
}

Deno.test(
  { name: "scrape kube, nomad and consul modes against API stand-ins", sanitizeResources: false },
  async (t) => {
    const server = await startAutopgoServer();
    const closers: (() => Promise<unknown> | unknown)[] = [() => server.close()];
    const target = (header?: [string, string]) => {
      const s = startFakePprofTarget(profile, { requiredHeader: header });
      closers.push(() => s.close());
      return s;
    };
    try {
      await t.step("kube", async () => {
        const [a, b, unready] = [target(), target(), target()];
        const annotations = (s: Target) => ({ "autopgo.scrape.port": String(s.port) });
        const kube = startFakeKube([
          fakePod("shop-a", { labels: LABELS, ip: "127.0.0.1", annotations: annotations(a) }),
          fakePod("shop-b", { labels: LABELS, ip: "127.0.0.1", annotations: annotations(b) }),
          fakePod("shop-unready", { labels: LABELS, ip: "127.0.0.1", ready: false, annotations: annotations(unready) }),
          fakePod("other", {
            labels: { ...LABELS, "autopgo.scrape.app": "other" },
            ip: "127.0.0.1",
            annotations: annotations(unready),
          }),
        ]);
        closers.push(() => kube.close());
        const dir = await Deno.makeTempDir();
        closers.push(() => Deno.remove(dir, { recursive: true }));
        await Deno.writeTextFile(`${dir}/kubeconfig`, fakeKubeconfig(kube.url));
        await exerciseMode({
          mode: "kube",
          dependency: "kubernetes",
          api: kube,
          ready: [a, b],
          notReady: unready,
          serverUrl: server.url,
          args: [`${dir}/kubeconfig`],
        });
        const url = new URL(kube.requests[0].split(" ")[1], kube.url);
        assert.equal(url.pathname, "/api/v1/pods");
        assert.equal(url.searchParams.get("labelSelector"), "autopgo.scrape=true,autopgo.scrape.app=shop");
        assert.equal(url.searchParams.get("fieldSelector"), "status.phase=Running");
      });

      await t.step("nomad (with a protected pprof endpoint)", async () => {
        const header: [string, string] = ["Authorization", "Bearer pprof-secret"];
        const [a, b, other] = [target(header), target(header), target(header)];
        const nomad = startFakeNomad([
          nomadRegistration("shop-api", "127.0.0.1", a.port, TAGS),
          nomadRegistration("shop-api", "127.0.0.1", b.port, TAGS, "platform"),
          nomadRegistration("other", "127.0.0.1", other.port, ["autopgo.scrape=true", "autopgo.scrape.app=other"]),
        ]);
        closers.push(() => nomad.close());
        await exerciseMode({
          mode: "nomad",
          dependency: "nomad",
          api: nomad,
          ready: [a, b],
          notReady: other,
          serverUrl: server.url,
          args: ["--target-header", "Authorization: Bearer pprof-secret"],
          env: { NOMAD_ADDR: nomad.url, NOMAD_TOKEN: "nomad-test-token" },
        });
        assert.ok(nomad.requests.some((r) => r.startsWith("GET /v1/service/shop-api?")));
      });

      await t.step("consul", async () => {
        const [a, b, critical] = [target(), target(), target()];
        const consul = startFakeConsul([
          consulEntry("shop-api", "127.0.0.1", "", a.port, TAGS),
          consulEntry("shop-api", "10.9.9.9", "127.0.0.1", b.port, TAGS),
          consulEntry("shop-api", "127.0.0.1", "", critical.port, TAGS, "critical"),
        ]);
        closers.push(() => consul.close());
        await exerciseMode({
          mode: "consul",
          dependency: "consul",
          api: consul,
          ready: [a, b],
          notReady: critical,
          serverUrl: server.url,
          env: { CONSUL_HTTP_ADDR: consul.url.slice("http://".length), CONSUL_HTTP_TOKEN: "consul-test-token" },
        });
        assert.ok(
          consul.requests.some((r) => r.startsWith("GET /v1/health/service/shop-api?") && r.includes("passing=true")),
        );
      });

      const client = new ApiClient({ baseUrl: server.url });
      await eventually("merged profile of shop", async () => (await client.list()).some((p) => p.key === "shop"));
    } finally {
      for (const close of closers.reverse()) {
        try {
          await close();
        } catch { /* best effort */ }
      }
    }
  },
);

Deno.test("scrape: invalid configuration is a one-line error and a non-zero exit", async () => {
  const { runAutopgo } = await import("./support/cli.ts");
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ["scrape", "-s", "1", "t.json"],
      {},
      /^autopgo: scrape: --app is required: pass --app <name> or set AUTOPGO_SCRAPE_APP or AUTOPGO_APP /,
    ],
    [["scrape", "-a", "shop", "t.json"], {}, /^autopgo: scrape: --sample-size is required: pass --sample-size <n>/],
    [["scrape", "-a", "shop", "-s", "0", "t.json"], {}, /sample size must be at least 1/],
    [["scrape", "-a", "Shop", "-s", "1", "t.json"], {}, /app name "Shop" may only contain/],
    [["scrape", "-a", "shop", "-s", "1"], {}, /^autopgo: file mode needs the path of a targets file/],
    [["scrape", "-a", "shop", "-s", "1", "-d", "500ms", "t.json"], {}, /^autopgo: duration must be at least 1s/],
    [["scrape", "-a", "shop", "-s", "1", "-d", "2.5s", "t.json"], {}, /^autopgo: duration must be whole seconds/],
    [["scrape", "-a", "shop", "-s", "1", "-f", "0", "t.json"], {}, /^autopgo: frequency must be greater than 0/],
    [["scrape", "-a", "shop", "-s", "1", "--mode", "zookeeper"], {}, /Allowed choices are file, kube, nomad, consul/],
    [
      ["scrape", "-a", "shop", "-s", "1", "/nonexistent/t.json"],
      {},
      /^autopgo: targets file \/nonexistent\/t\.json: file does not exist$/,
    ],
    [["scrape", "-a", "shop", "-s", "1", "-m", "kube"], {}, /^autopgo: kube: not running inside a cluster/],
    [["scrape", "-a", "shop", "-s", "1", "--target-header", "no colon", "t.json"], {}, /expected "Name: value"/],
    [
      ["scrape", "t.json"],
      { AUTOPGO_APP: "shop", AUTOPGO_SAMPLE_SIZE: "1", AUTOPGO_DURATION: "abc" },
      /invalid duration "abc"/,
    ],
    [
      ["scrape"],
      { AUTOPGO_APP: "shop", AUTOPGO_SAMPLE_SIZE: "1", AUTOPGO_MODE: "nomad", NOMAD_ADDR: "ftp://x" },
      /NOMAD_ADDR scheme/,
    ],
  ];
  for (const [args, env, expected] of cases) {
    const run = await runAutopgo(args, { env: { KUBERNETES_SERVICE_HOST: "", ...env } });
    assert.notEqual(run.code, 0, args.join(" "));
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${run.stderr}`);
    assert.match(lines[0], expected, args.join(" "));
  }
});
