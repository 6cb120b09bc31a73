/** Tests of the retention flags (window_flags.ts): defaults, env-free parsing and one-line errors. */

import assert from "node:assert/strict";
import { Command } from "commander";
import { CliError } from "./cli_error.ts";
import { addWindowOptions, windowConfigOf, type WindowFlags } from "./window_flags.ts";

function parse(args: string[]): WindowFlags {
  const command = addWindowOptions(new Command("worker")).exitOverride().configureOutput({ writeErr: () => {} });
  command.parse(args, { from: "user" });
  return command.opts<WindowFlags>();
}

Deno.test("windowConfigOf: neither --retention nor --half-life keeps one growing default.pgo", () => {
  const flags = parse([]);
  assert.equal(flags.window, 3_600_000);
  assert.equal(windowConfigOf(flags), undefined);
});

Deno.test("windowConfigOf: --retention 7d --half-life 2d --window 30m", () => {
  const clock = () => new Date(0);
  const config = windowConfigOf(parse(["--retention", "7d", "--half-life", "2d", "--window", "30m"]), clock);
  assert.deepEqual(config, { windowMs: 1_800_000, retentionMs: 604_800_000, halfLifeMs: 172_800_000, clock });
  assert.deepEqual(windowConfigOf(parse(["--half-life", "12h"]))?.retentionMs, undefined);
});

Deno.test("windowConfigOf: a window longer than the retention, or a bad duration, is a one-line error", () => {
  assert.throws(
    () => windowConfigOf(parse(["--retention", "1h", "--window", "2h"])),
    (e: Error) => e instanceof CliError && e.message === "--window (7200s) must not be longer than --retention (3600s)",
  );
  assert.throws(() => windowConfigOf(parse(["--half-life", "0"])), /--half-life must be longer than 0/);
  assert.throws(() => parse(["--retention", "7x"]), /invalid duration "7x"/);
});
