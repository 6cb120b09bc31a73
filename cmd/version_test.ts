import assert from "node:assert/strict";
import { isBareVersionRequest, versionLine, versionString } from "./version.ts";

Deno.test("only a lone --version or -v skips the CLI; everything else is parsed by it", () => {
  assert.ok(isBareVersionRequest(["--version"]));
  assert.ok(isBareVersionRequest(["-v"]));
  for (const args of [[], ["-V"], ["--version", "--log-level", "debug"], ["merge", "--version"], ["--version=1"]]) {
    assert.equal(isBareVersionRequest(args), false, JSON.stringify(args));
  }
});

Deno.test("versionLine is what the CLI's --version prints", () => {
  const commit = Deno.env.get("AUTOPGO_COMMIT");
  assert.equal(versionLine(), versionString(commit ?? "HEAD"));
  assert.match(versionLine(), /^autopgo \d+\.\d+\.\d+ \(commit \S+, deno \d+\.\d+\.\d+\)$/);
});
