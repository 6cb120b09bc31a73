/**
 * The README's quick start, run as written: the Go service from the README (net/http/pprof) under
 * load, `deno task start`, `autopgo scrape` in file mode with the README's targets file, `list`,
 * `download … -o default.pgo`, `go build -pgo=auto` and `go version -m` showing that the build used
 * the profile. Only the ports (free ones instead of 6060 and 8080) and the scrape timings are
 * shortened; the README's commands are checked to be the ones run here.
 *
 * Skips with a printed reason when Go is missing; fails under CI=true.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { nodeFetch } from "../core/http_fetch.ts";
import { runGo, skipUnlessGo } from "./support/go.ts";
import { runAutopgo } from "./support/cli.ts";
import { eventually, spawnAutopgo } from "./support/autopgo_processes.ts";

const NAME = "quick start: the README's Go service is scraped, and go build -pgo=auto uses the downloaded profile";
const ROOT = new URL("..", import.meta.url).pathname;

/** The quick start section of the README. */
async function quickStart(): Promise<string> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  return readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1));
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test({ name: NAME, sanitizeResources: false, sanitizeOps: false }, async () => {
  if (!skipUnlessGo(NAME)) return;
  const section = await quickStart();
  for (
    const command of [
      "deno task start",
      "autopgo scrape targets.json --app my-service --sample-size 1 --duration 10s --frequency 30s",
      "autopgo list",
      "autopgo download my-service -o default.pgo",
      "go build -pgo=auto -o my-service .",
      "go version -m my-service | grep pgo",
    ]
  ) {
    assert.ok(section.includes(command), `the quick start says ${command}`);
  }
  const source = /```go\n([\s\S]*?)```/.exec(section)?.[1];
  const targets = /echo '(.*)' > targets\.json/.exec(section)?.[1];
  assert.ok(source, "the quick start has the service");
  assert.match(source, /_ "net\/http\/pprof"/);
  assert.ok(targets, "the quick start has the targets file");

  const dir = await Deno.makeTempDir({ prefix: "autopgo-quick-start-" });
  const service = join(dir, "my-service");
  const cleanups: (() => Promise<unknown>)[] = [() => Deno.remove(dir, { recursive: true })];
  try {
    // 1. The service, on a free port instead of 6060, under load.
    const port = freePort();
    await Deno.mkdir(service);
    await Deno.writeTextFile(join(service, "main.go"), source.replace("127.0.0.1:6060", `127.0.0.1:${port}`));
    await runGo(["mod", "init", "example.com/my-service"], { cwd: service });
    await runGo(["build", "-o", join(dir, "service-without-pgo"), "."], { cwd: service });
    const svc = new Deno.Command(join(dir, "service-without-pgo"), { stdout: "null", stderr: "null" }).spawn();
    cleanups.unshift(async () => {
      svc.kill("SIGKILL");
      await svc.status;
    });
    await eventually("the service answers", async () => {
      const res = await nodeFetch(`http://127.0.0.1:${port}/hash/x`);
      await res.body?.cancel();
      return res.status === 200;
    });
    const busy = new AbortController();
    const load = (async () => {
      while (!busy.signal.aborted) {
        await nodeFetch(`http://127.0.0.1:${port}/hash/x`).then((r) => r.body?.cancel(), () => {});
      }
    })();
    cleanups.unshift(async () => {
      busy.abort();
      await load;
    });

    // 2. deno task start (on a free port instead of 8080).
    const server = spawnAutopgo([], {
      command: [Deno.execPath(), "task", "start"],
      cwd: ROOT,
      env: { AUTOPGO_SERVER_PORT: "0", AUTOPGO_DATA_DIR: join(dir, "autopgo-data") },
    });
    cleanups.unshift(() => server.stop());
    const url = (await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1];

    // 3. Scrape with the README's targets file.
    const targetsFile = join(dir, "targets.json");
    await Deno.writeTextFile(targetsFile, targets.replace("127.0.0.1:6060", `127.0.0.1:${port}`));
    const scraper = spawnAutopgo([
      "scrape",
      targetsFile,
      "--app",
      "my-service",
      "--sample-size",
      "1",
      "--duration",
      "2s",
      "--frequency",
      "3s",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--api-url",
      url,
    ]);
    cleanups.unshift(() => scraper.stop());
    await scraper.waitFor(
      /profiled "?http:\/\/127\.0\.0\.1:\d+\/debug\/pprof\/profile\?seconds=2"?: \d+ bytes uploaded/,
    );

    // 4. list, download, go build -pgo=auto, go version -m.
    await eventually("my-service is listed", async () => {
      const list = await runAutopgo(["list", "-u", url]);
      return list.code === 0 && /^my-service\s/m.test(list.stdout);
    });
    const download = await runAutopgo(["download", "my-service", "-o", "default.pgo", "-u", url], { cwd: service });
    assert.equal(download.code, 0, download.stderr);
    await runGo(["build", "-pgo=auto", "-o", "my-service", "."], { cwd: service });
    const version = new TextDecoder().decode((await runGo(["version", "-m", "my-service"], { cwd: service })).stdout);
    assert.match(version, new RegExp(`\\tbuild\\t-pgo=${join(service, "default.pgo")}\\n`));
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
});
