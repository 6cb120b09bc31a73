/**
 * The web page in a real headless Chromium (Debian's `chromium`, driven by playwright-core): real
 * `autopgo server` processes get real profiles uploaded, the test opens the pages at 1280 and
 * 390 px wide and checks what is visible — app names, frame names, and numbers that agree with
 * `autopgo inspect --json` and `autopgo explain --json` run on the merged profile the server
 * serves — then uses search, zoom and the token dialog. Any console error or uncaught exception
 * fails the test, and so does a layout shift while the page loads. Screenshots are saved under
 * tests/output/web/ (gitignored) for a person to look at.
 *
 * Chromium is found at `AUTOPGO_CHROMIUM` (default /usr/bin/chromium). Without it the tests are
 * skipped with the reason outside CI and fail under `CI=true` (.ci/run installs it).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { encodeProfile } from "../core/pprof/encode.ts";
import type { ExplainReport } from "../core/pprof/explain.ts";
import type { ProfileSummary } from "../core/pprof/summary.ts";
import { describeNoInline } from "../core/pprof/noinline.ts";
import type { FlameGraph } from "../core/web/flame_graph.ts";
import { type AutopgoServer, eventually, startAutopgoServer } from "./support/autopgo_processes.ts";
import { runAutopgo } from "./support/cli.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { underCi } from "./support/services/service.ts";
import { HOSTILE_NAMES, hostileProfile } from "./support/web_profiles.ts";

const CHROMIUM = Deno.env.get("AUTOPGO_CHROMIUM") ?? "/usr/bin/chromium";
const OUTPUT = new URL("./output/web/", import.meta.url).pathname;
const VIEWPORTS = [{ width: 1280, height: 900 }, { width: 390, height: 844 }];

function chromiumSkip(): string | false {
  try {
    if (Deno.statSync(CHROMIUM).isFile) return false;
  } catch { /* missing */ }
  const reason = `Chromium is not installed at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)`;
  if (underCi()) throw new Error(`CI=true but ${reason}`);
  console.warn(`skipping the web page browser tests: ${reason}`);
  return reason;
}

const skip = chromiumSkip();

async function launch(): Promise<Browser> {
  // playwright starts Chromium with a fresh temporary --user-data-dir of its own and removes it on close.
  // Scrollbars stay on (playwright hides them by default): one appearing must not move the page either.
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: ["--hide-scrollbars"],
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** A page whose console errors and uncaught exceptions are collected. */
async function openPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`exception: ${e.message}`));
  return { page, errors };
}

/** Sum of the layout shifts since the page started loading (Chromium's CLS entries). */
async function layoutShift(page: Page): Promise<number> {
  return await page.evaluate(`new Promise((resolve) => {
    let total = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value;
    }).observe({ type: "layout-shift", buffered: true });
    setTimeout(() => resolve(total), 100);
  })`) as number;
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: `${OUTPUT}${name}.png`, fullPage });
}

async function upload(server: AutopgoServer, app: string, data: Uint8Array, token?: string): Promise<void> {
  const res = await fetch(`${server.url}/api/profile/${app}`, {
    method: "POST",
    body: data as Uint8Array<ArrayBuffer>,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  assert.equal(res.status, 201, await res.text());
}

async function waitForMerges(server: AutopgoServer, expected: Record<string, number>, token?: string) {
  await eventually("uploads merged", async () => {
    const res = await fetch(`${server.url}/api/apps`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const apps = (await res.json()).apps as { app: string; uploadsMerged: number }[];
    return Object.entries(expected).every(([app, n]) => apps.some((a) => a.app === app && a.uploadsMerged === n));
  }, 60_000);
}

const int = (n: number) => new Intl.NumberFormat("en-US").format(n);
const pct = (v: number, total: number) => total === 0 ? "-" : `${(v / total * 100).toFixed(1)}%`;

/** `inspect --json` and `explain --json` of the merged profile the server serves for `app`. */
async function cliReports(server: AutopgoServer, app: string) {
  const res = await fetch(`${server.url}/api/profile/${app}`);
  assert.equal(res.status, 200);
  const file = await Deno.makeTempFile({ suffix: ".pb.gz" });
  try {
    await Deno.writeFile(file, new Uint8Array(await res.arrayBuffer()));
    const inspect = await runAutopgo(["inspect", "--json", "--top", "20", file]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const explain = await runAutopgo(["explain", "--json", file]);
    assert.equal(explain.code, 0, explain.stderr);
    return {
      inspect: JSON.parse(inspect.stdout) as ProfileSummary,
      explain: JSON.parse(explain.stdout) as ExplainReport,
    };
  } finally {
    await Deno.remove(file);
  }
}

/** The visible text of each cell of the body rows of `table`. */
async function cells(table: Locator): Promise<string[][]> {
  const rows = table.locator("tbody tr");
  const out: string[][] = [];
  for (let i = 0; i < await rows.count(); i++) out.push(await rows.nth(i).locator("td").allInnerTexts());
  return out;
}

/** The `<dt>` → `<dd>` texts of the inspect summary. */
async function summaryRows(page: Page): Promise<Map<string, string>> {
  const dts = await page.locator("#summary dt").allInnerTexts();
  const dds = await page.locator("#summary dd").allInnerTexts();
  return new Map(dts.map((dt, i) => [dt, dds[i].trim()]));
}

/** The label the flame graph draws for `name`: without its package path (as flame_script.ts shortens it). */
function label(name: string): string {
  const paren = name.indexOf("(");
  const slash = name.lastIndexOf("/", paren >= 0 ? paren : name.length);
  if (slash < 0 || !/^[\w.~-]+(\/[\w.~-]+)*$/.test(name.slice(0, slash))) return name;
  return name.slice(slash + 1);
}

Deno.test({
  name: "web page: apps, flame graph, explain and inspect agree with the CLI in Chromium at 1280 and 390 px",
  ignore: skip !== false,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await Deno.mkdir(OUTPUT, { recursive: true });
    const server = await startAutopgoServer(["--compaction", "none"]);
    let browser: Browser | undefined;
    try {
      const profiles = committedProfiles();
      for (const path of profiles.cpu) await upload(server, "checkout", await Deno.readFile(path));
      await upload(server, "search-api", await Deno.readFile(profiles.cpuLabelled[0]));
      await upload(server, "evil", encodeProfile(hostileProfile()));
      await waitForMerges(server, { checkout: profiles.cpu.length, "search-api": 1, evil: 1 });
      const { inspect, explain } = await cliReports(server, "checkout");
      const flame = await (await fetch(`${server.url}/api/profile/checkout/flamegraph`)).json() as FlameGraph;
      const total = inspect.totals.find((t) => `${t.type}/${t.unit}` === inspect.rankedBy)!.total;
      browser = await launch();
      for (const viewport of VIEWPORTS) {
        const w = viewport.width;
        const context = await browser.newContext({ viewport });
        const { page, errors } = await openPage(context);

        await page.goto(`${server.url}/`);
        await page.locator("#apps tr").nth(2).waitFor();
        assert.deepEqual(
          await page.locator("#apps tr td:first-child").allInnerTexts(),
          ["checkout", "evil", "search-api"],
        );
        assert.match(await page.locator("#apps tr").first().innerText(), /3 uploads/);
        assert.equal(await page.locator("#status").innerText(), "3 apps with a merged profile");
        assert.equal(await layoutShift(page), 0, `layout shift on / at ${w}px`);
        await shot(page, `index-${w}`);

        await page.locator("#apps a", { hasText: "checkout" }).click();
        await page.waitForURL(/\/app\/checkout$/);
        await page.locator("#summary").waitFor();
        assert.equal(await layoutShift(page), 0, `layout shift on /app/checkout at ${w}px`);
        assert.equal(await page.locator("h1").innerText(), "checkout");
        assert.equal(await page.locator("#stat-samples").innerText(), int(inspect.counts.samples));
        assert.equal(await page.locator("#stat-uploads").innerText(), String(profiles.cpu.length));
        assert.equal(await page.locator("#stat-total").getAttribute("title"), `${int(total)} ${inspect.rankedBy}`);
        assert.equal(await page.locator("#stat-pgo").innerText(), "usable");
        const summary = await summaryRows(page);
        assert.equal(summary.get("Totals"), inspect.totals.map((t) => `${t.total} ${t.type}/${t.unit}`).join(", "));
        const c = inspect.counts;
        assert.equal(
          summary.get("Sizes"),
          `${c.samples} samples, ${c.locations} locations, ${c.functions} functions, ${c.mappings} mappings, ${c.strings} strings`,
        );
        assert.equal(summary.get("Duration"), `${(inspect.durationNanos / 1e9).toFixed(2)}s`);
        assert.equal(summary.get("No-inline"), describeNoInline(inspect.noInline), "no-inline guards as inspect says");
        const flat = await cells(page.locator("#top-flat"));
        assert.deepEqual(flat.map((r) => r[4]), inspect.topFlat.map((f) => f.name));
        assert.deepEqual(flat.map((r) => r[1]), inspect.topFlat.map((f) => pct(f.flat, total)));
        const cum = await cells(page.locator("#top-cum"));
        assert.deepEqual(cum.map((r) => [r[3], r[4]]), inspect.topCum.map((f) => [pct(f.cum, total), f.name]));

        const edges = page.locator("table.edges");
        const hot = await cells(edges.first());
        assert.deepEqual(hot[0].slice(0, 4), [
          int(explain.hotEdges[0].weight),
          `${explain.hotEdges[0].share.toFixed(2)}%`,
          `${explain.hotEdges[0].cumulativeShare.toFixed(2)}%`,
          explain.hotEdges[0].caller,
        ]);
        assert.equal(hot.length, 21, "20 hot edges and the Show more row");
        assert.match(
          await page.locator(".lead").first().innerText(),
          new RegExp(`^${explain.hotEdges.length} of ${explain.edgeCount} call edges are hot`),
        );
        await edges.first().locator("button", { hasText: "more" }).click();
        assert.equal(await edges.first().locator("tbody tr").count(), explain.hotEdges.length);
        const dev = await cells(edges.nth(1));
        assert.equal(dev[0][3], explain.devirtualization[0].caller);
        assert.match(dev[0][5], new RegExp(explain.devirtualization[0].callee.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
        await shot(page, `app-${w}`);

        // The flame graph: the widest frames are drawn with their names; search and zoom work.
        assert.match(await page.locator("#flame-type").innerText(), new RegExp(`^${inspect.rankedBy}`));
        const widest = inspect.topCum[0].name;
        await page.locator("#flame g.fr >> css=text", { hasText: label(widest) }).first().waitFor();
        const depthThree = widestAt(flame, 3);
        await page.locator("#flame").scrollIntoViewIfNeeded();
        await page.fill("#search", "mixWord");
        await page.locator("#flame g.fr.match").first().waitFor();
        if (w > 720) {
          assert.match(await page.locator("#matches").innerText(), /^\d+ frames? match · \d+\.\d% of the total$/);
        }
        await page.locator("#flame g.fr").filter({ has: page.locator("css=text", { hasText: label(depthThree) }) })
          .first()
          .click();
        assert.equal(await page.locator("#reset").isEnabled(), true);
        assert.equal(await page.locator("#details .name").innerText(), depthThree);
        await shot(page, `flame-search-zoom-${w}`, false);
        await page.click("#reset");
        assert.equal(await page.locator("#reset").isEnabled(), false);

        // Hostile function names are shown as text and run nothing.
        await page.goto(`${server.url}/app/evil`);
        await page.locator("#summary").waitFor();
        const shown = (await cells(page.locator("#top-cum"))).map((r) => r[4]);
        assert.deepEqual(new Set(shown), new Set(HOSTILE_NAMES));
        assert.equal(await page.evaluate(`typeof window.__pwned`), "undefined");
        assert.equal(await page.evaluate(`document.querySelectorAll("img[src='x'], #flame script").length`), 0);
        assert.ok(await page.locator("#flame g.fr").count() >= HOSTILE_NAMES.length);
        await page.locator("#flame g.fr >> css=text", { hasText: HOSTILE_NAMES[0] }).waitFor();
        await shot(page, `evil-${w}`);

        assert.deepEqual(errors, [], `console errors at ${w}px`);
        await context.close();
      }
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});

/** Name of the widest frame at `depth` of a flame graph. */
function widestAt(g: FlameGraph, depth: number): string {
  let best = -1;
  for (let i = 0; i < g.frames.length; i += 4) {
    if (g.frames[i + 1] === depth && (best < 0 || g.frames[i + 2] > g.frames[best + 2])) best = i;
  }
  assert.ok(best >= 0, `a frame at depth ${depth}`);
  return g.names[g.frames[best]];
}

Deno.test({
  name: "web page: with --token the page asks for the token once per tab and the API refuses requests without it",
  ignore: skip !== false,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await Deno.mkdir(OUTPUT, { recursive: true });
    const token = "s3cret-web-token";
    const server = await startAutopgoServer(["--token", token]);
    let browser: Browser | undefined;
    try {
      await upload(server, "svc", await Deno.readFile(committedProfiles().cpu[0]), token);
      await waitForMerges(server, { svc: 1 }, token);
      assert.equal((await fetch(`${server.url}/api/apps`)).status, 401);
      browser = await launch();
      const context = await browser.newContext({ viewport: VIEWPORTS[0] });
      const { page, errors } = await openPage(context);
      await page.goto(`${server.url}/`);
      await page.locator("#token-dialog[open]").waitFor();
      assert.equal(await page.locator("#apps tr").count(), 0, "nothing is fetched before the token is given");
      await shot(page, "token-dialog-1280", false);

      await page.fill("#token-input", "not-the-token");
      await page.click("#token-form button[type=submit]");
      await page.locator("#token-error", { hasText: "The server refused this token." }).waitFor();
      // Chromium logs every 401 answer as a console error: that one, and only that one, is expected.
      assert.deepEqual(errors.splice(0), [
        "console: Failed to load resource: the server responded with a status of 401 (Unauthorized)",
      ]);

      await page.fill("#token-input", token);
      await page.click("#token-form button[type=submit]");
      await page.locator("#apps tr td a", { hasText: "svc" }).waitFor();
      assert.equal(await page.evaluate(`sessionStorage.getItem("autopgo.token")`), token);
      await page.reload();
      await page.locator("#apps tr td a", { hasText: "svc" }).waitFor();
      assert.equal(await page.locator("#token-dialog[open]").count(), 0, "the tab keeps the token");

      await page.goto(`${server.url}/app/svc`);
      await page.locator("#summary").waitFor();
      // The server runs the default --compaction pgo: the page says why the stacks are short.
      assert.match(await page.locator("#flame .note").innerText(), /--compaction none/);
      await shot(page, "app-compacted-1280");
      assert.deepEqual(errors, []);

      const fresh = await browser.newContext({ viewport: VIEWPORTS[0] });
      const other = await openPage(fresh);
      await other.page.goto(`${server.url}/app/svc`);
      await other.page.locator("#token-dialog[open]").waitFor();
      assert.deepEqual(other.errors, [], "another tab starts without the token");
    } finally {
      await browser?.close();
      await server.close();
    }
  },
});
