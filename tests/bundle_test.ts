/**
 * Self-containment check: `deno bundle` (offline) turns main.ts into one JavaScript file;
 * run from an empty directory it must work without any file of the repository beside it.
 * (`deno compile` needs Deno's download host for its runtime; compile.sh covers that.)
 *
 * @module
 */

import assert from "node:assert/strict";
import { MAIN_TS } from "./support/cli.ts";

async function run(cmd: string, args: string[], cwd?: string) {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped", env: { NO_COLOR: "1" } })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("bundled autopgo runs from an empty directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-bundle-" });
  try {
    const bundle = `${dir}/autopgo.js`;
    const b = await run(Deno.execPath(), ["bundle", "--quiet", "--platform", "deno", MAIN_TS, "-o", bundle]);
    assert.equal(b.code, 0, b.stderr);
    const work = `${dir}/empty`;
    await Deno.mkdir(work);
    const version = await run(Deno.execPath(), ["run", "-A", "--no-config", bundle, "--version"], work);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+ \(/);
    const help = await run(Deno.execPath(), ["run", "-A", "--no-config", bundle, "--help"], work);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /server/);
    // The engine works from the bundle alone: merge two committed profiles and inspect the result.
    const fixtures = new URL("./fixtures/profiles/", import.meta.url).pathname;
    for (const name of ["cpu-000.pb.gz", "cpu-001.pb.gz"]) await Deno.copyFile(fixtures + name, `${work}/${name}`);
    const merged = await run(Deno.execPath(), [
      "run",
      "-A",
      "--no-config",
      bundle,
      "merge",
      "-o",
      "merged.pb.gz",
      "cpu-000.pb.gz",
      "cpu-001.pb.gz",
    ], work);
    assert.equal(merged.code, 0, merged.stderr);
    const inspect = await run(Deno.execPath(), [
      "run",
      "-A",
      "--no-config",
      bundle,
      "inspect",
      "--json",
      "merged.pb.gz",
    ], work);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.ok(JSON.parse(inspect.stdout), "inspect --json prints JSON");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
