/** Unit tests of the CLI shell: which command modules a command line loads. @module */

import assert from "node:assert/strict";
import { asksOnlyVersion, buildProgram, commandNameIn, strayWordIn } from "./program.ts";

Deno.test("asksOnlyVersion: a version flag with root options only; never with a command, help or another word", () => {
  for (const args of [["--version"], ["-v"], ["-l", "debug", "-v"], ["--log-format=json", "--version"]]) {
    assert.equal(asksOnlyVersion(args), true, args.join(" "));
  }
  for (const args of [[], ["--help"], ["--version", "--help"], ["download", "--version"], ["nosuch", "-v"]]) {
    assert.equal(asksOnlyVersion(args), false, args.join(" "));
  }
  assert.equal(commandNameIn(["-v"]), undefined);
});

Deno.test("buildProgram: null loads no command, a name loads that one, undefined loads all", async () => {
  assert.deepEqual((await buildProgram(null)).commands.map((c) => c.name()), []);
  assert.deepEqual((await buildProgram("list")).commands.map((c) => c.name()), ["list"]);
  assert.ok((await buildProgram()).commands.length >= 11);
});

Deno.test("strayWordIn: the topic of `help WORD` or a word after --version that names no command", () => {
  assert.equal(strayWordIn(["help", "bogus"]), "bogus");
  assert.equal(strayWordIn(["-l", "debug", "--version", "extra"]), "extra");
  for (const args of [["help"], ["help", "merge"], ["--version"], ["--version", "merge"], ["bogus"], ["list", "x"]]) {
    assert.equal(strayWordIn(args), undefined, args.join(" "));
  }
});
