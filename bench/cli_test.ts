/** The benchmark scripts' `--help` and bad options (bench/cli.ts), on a real script run as a process. */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { moduleUsage } from "./cli.ts";

const SCALING = fileURLToPath(new URL("./scaling.ts", import.meta.url));

async function runScaling(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", SCALING, ...args] }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("moduleUsage: a script's module doc without comment markers or tags", () => {
  const usage = moduleUsage(new URL("./run.ts", import.meta.url).href);
  assert.match(usage, /^`deno task bench`: /);
  assert.match(usage, /Usage: deno task bench \[--runs 5\]/);
  assert.doesNotMatch(usage, /@module|^\s*\*/m);
});

Deno.test("bench scripts: --help prints the usage and exits 0; an unknown option is one line and exit 2", async () => {
  const help = await runScaling("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /deno task bench:scaling \[--bases 10,100,1000\]/);
  const bad = await runScaling("--bogus");
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim(), "bench/scaling.ts: Unknown option '--bogus' (--help lists the options)");
});
