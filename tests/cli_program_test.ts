/**
 * Pins the CLI shell: --help, --version, one-line errors and exit codes, env fallbacks.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runAutopgo } from "./support/cli.ts";
import { VERSION } from "../cmd/version.ts";

Deno.test("--version prints version, commit and Deno version (HEAD, or AUTOPGO_COMMIT, when run from source)", async () => {
  const r = await runAutopgo(["--version"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `autopgo ${VERSION} (commit HEAD, deno ${Deno.version.deno})\n`);
  const named = await runAutopgo(["--version"], { env: { AUTOPGO_COMMIT: "abc1234" } });
  assert.equal(named.stdout, `autopgo ${VERSION} (commit abc1234, deno ${Deno.version.deno})\n`);
});

Deno.test("--help lists components and utilities with the global log options", async () => {
  const r = await runAutopgo(["--help"]);
  assert.equal(r.code, 0);
  for (const word of ["server", "worker", "scrape", "upload", "download", "list", "delete", "clean", "merge"]) {
    assert.match(r.stdout, new RegExp(`\\n\\s+${word}\\b`), `help mentions ${word}`);
  }
  assert.match(r.stdout, /--log-level/);
  assert.match(r.stdout, /AUTOPGO_LOG_LEVEL/);
});

Deno.test("subcommand help shows the global options too", async () => {
  const r = await runAutopgo(["inspect", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--log-level/);
});

Deno.test("unknown command is a one-line error with a non-zero exit", async () => {
  const r = await runAutopgo(["no-such-command"]);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /unknown command/);
});

Deno.test("AUTOPGO_LOG_LEVEL takes the original's names in any case and falls back to info with a warning", async () => {
  const profile = new URL("./fixtures/profiles/cpu-000.pb.gz", import.meta.url).pathname;
  for (
    const [value, warned] of [["WARN", false], ["warning", false], ["Debug", false], ["trace", true], ["loud", true]]
  ) {
    const r = await runAutopgo(["inspect", profile], { env: { AUTOPGO_LOG_LEVEL: String(value) } });
    assert.equal(r.code, 0, `${value}: ${r.stderr}`);
    assert.match(r.stdout, /samples/i);
    if (warned) {
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`unknown log level "${value}"; using info`));
    } else {
      assert.doesNotMatch(r.stderr, /unknown log level/);
    }
  }
  const flag = await runAutopgo(["--log-level", "ERROR", "inspect", profile]);
  assert.equal(flag.code, 0, flag.stderr);
});

Deno.test("merge -o - output pipes into inspect - and explain - (stdin)", async () => {
  const dir = new URL("./fixtures/profiles/", import.meta.url).pathname;
  const merged = await runAutopgo(["merge", "-o", "-", `${dir}cpu-000.pb.gz`, `${dir}cpu-001.pb.gz`]);
  assert.equal(merged.code, 0, merged.stderr);
  const inspect = await runAutopgo(["inspect", "--json", "-"], { stdin: merged.stdoutBytes });
  assert.equal(inspect.code, 0, inspect.stderr);
  const report = JSON.parse(inspect.stdout);
  assert.equal(report.bytes, merged.stdoutBytes.length);
  assert.ok(report.counts.samples > 0);
  const explain = await runAutopgo(["explain", "-"], { stdin: merged.stdoutBytes });
  assert.equal(explain.code, 0, explain.stderr);
  assert.match(explain.stdout, /Call edges: \d+/);
  const empty = await runAutopgo(["inspect", "-"], { stdin: new Uint8Array() });
  assert.notEqual(empty.code, 0);
  assert.match(empty.stderr, /^autopgo: inspect "-": empty input file\n$/);
});
