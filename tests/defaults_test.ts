/**
 * Defaults a first-day user meets: `deno task start` listens on 127.0.0.1 only, `autopgo server`
 * keeps the original's all-interfaces default but logs the real address and warns without
 * `--token`, and each component reads `AUTOPGO_<COMPONENT>_<NAME>` before the original's shared
 * `AUTOPGO_<NAME>`, so one host can run all three. Real processes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runAutopgo } from "./support/cli.ts";
import { spawnAutopgo } from "./support/autopgo_processes.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TOKEN_WARNING = /listening beyond loopback \((::|0\.0\.0\.0)\) without --token/;

Deno.test({
  name: "deno task start listens on 127.0.0.1 and says so; AUTOPGO_SERVER_PORT wins over AUTOPGO_PORT",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-task-start-" });
  const server = spawnAutopgo([], {
    command: [Deno.execPath(), "task", "start"],
    cwd: ROOT,
    env: { AUTOPGO_DATA_DIR: dataDir, AUTOPGO_PORT: "not-a-port", AUTOPGO_SERVER_PORT: "0" },
  });
  try {
    const m = await server.waitFor(/listening on http:\/\/([\d.]+):(\d+)/, 60_000);
    assert.equal(m[1], "127.0.0.1");
    const res = await fetch(`http://127.0.0.1:${m[2]}/api/ready`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    assert.equal(await server.stop(), 0);
    await Deno.remove(dataDir, { recursive: true });
  }
  assert.ok(!server.lines.some((l) => /without --token/.test(l)), server.lines.join("\n"));
});

Deno.test({
  name:
    "autopgo server listens on all interfaces, IPv6 and IPv4, by default, logs [::] (0.0.0.0 without IPv6) and warns unless --token is set",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-default-host-" });
  try {
    for (const extra of [[], ["--token", "s3cret"]]) {
      const server = spawnAutopgo(["server", "--port", "0", "--data-dir", dataDir, ...extra]);
      try {
        // 0.0.0.0 only on a machine without IPv6.
        const [, all, port] = await server.waitFor(/listening on http:\/\/(\[::\]|0\.0\.0\.0):(\d+)/, 60_000);
        if (extra.length === 0) await server.waitFor(TOKEN_WARNING);
        for (const host of all === "[::]" ? ["127.0.0.1", "[::1]"] : ["127.0.0.1"]) {
          const res = await fetch(`http://${host}:${port}/api/health`);
          assert.equal(res.status, 200, host);
          await res.body?.cancel();
        }
      } finally {
        assert.equal(await server.stop(), 0);
      }
      assert.equal(server.lines.some((l) => TOKEN_WARNING.test(l)), extra.length === 0, server.lines.join("\n"));
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("component variables: the shared AUTOPGO_PORT still applies, a component's own name wins", async () => {
  const bad = await runAutopgo(["scrape", "--app", "x", "-s", "1", "/nonexistent/targets.json"], {
    env: { AUTOPGO_PORT: "not-a-port" },
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /AUTOPGO_PORT/);
  const own = await runAutopgo(["scrape", "--app", "x", "-s", "1", "/nonexistent/targets.json"], {
    env: { AUTOPGO_PORT: "not-a-port", AUTOPGO_SCRAPE_PORT: "0" },
  });
  assert.equal(own.code, 1);
  assert.match(own.stderr, /targets file \/nonexistent\/targets\.json/);
  const wrongOwn = await runAutopgo(["worker"], { env: { AUTOPGO_PORT: "0", AUTOPGO_WORKER_PORT: "nope" } });
  assert.equal(wrongOwn.code, 1);
  assert.match(wrongOwn.stderr, /AUTOPGO_WORKER_PORT/);
  const help = await runAutopgo(["scrape", "--help"]);
  assert.match(help.stdout.replace(/\s+/g, " "), /env: AUTOPGO_SCRAPE_PORT or AUTOPGO_PORT/);
  const badBool = await runAutopgo(["server", "--port", "0"], { env: { AUTOPGO_DEBUG: "maybe" } });
  assert.equal(badBool.code, 1);
  assert.equal(badBool.stderr, 'autopgo: AUTOPGO_DEBUG: expected true or false, got "maybe"\n');
});
