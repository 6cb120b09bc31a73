import assert from "node:assert/strict";
import { Command } from "commander";
import { committedProfiles } from "../tests/support/fixtures.ts";
import { runAutopgo } from "../tests/support/cli.ts";
import { eventually, spawnAutopgo, startAutopgoServer } from "../tests/support/autopgo_processes.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { DEFAULT_NOINLINE_GUARDS, noInlineReport } from "../core/pprof/noinline.ts";
import type { Profile } from "../core/pprof/profile.ts";
import { addMergeNoInlineOptions, addNoInlineOptions, type NoInlineFlags, noInlineGuardsOf } from "./noinline_flags.ts";

const DEFAULTS = DEFAULT_NOINLINE_GUARDS.map((g) => g.pattern);
const SORT = String.raw`^main\.sortRecords$`;

function parse(add: (c: Command) => Command, args: string[]): NoInlineFlags {
  const command = add(new Command("x").exitOverride().configureOutput({ writeErr: () => {} }));
  command.parse(args, { from: "user" });
  return command.opts() as NoInlineFlags;
}

function totals(p: Profile): number[] {
  return p.sampleType.map((_, i) => p.sample.reduce((sum, s) => sum + s.value[i], 0));
}

Deno.test("addNoInlineOptions: the worker guards the built-in list plus every --noinline, unless opted out", () => {
  const sources = (flags: NoInlineFlags) => noInlineGuardsOf(flags)!.patterns.map((p) => p.source);
  assert.deepEqual(sources(parse(addNoInlineOptions, [])), DEFAULTS);
  assert.deepEqual(sources(parse(addNoInlineOptions, ["--noinline", "a", "--noinline", "b"])), [...DEFAULTS, "a", "b"]);
  assert.deepEqual(sources(parse(addNoInlineOptions, ["--no-default-noinline"])), []);
  assert.deepEqual(sources(parse(addNoInlineOptions, ["--no-default-noinline", "--noinline", "a"])), ["a"]);
});

Deno.test("addMergeNoInlineOptions: merge guards nothing unless asked", () => {
  assert.equal(noInlineGuardsOf(parse(addMergeNoInlineOptions, []), false), undefined);
  const asked = noInlineGuardsOf(parse(addMergeNoInlineOptions, ["--default-noinline", "--noinline", "a"]), false);
  assert.deepEqual(asked!.patterns.map((p) => p.source), [...DEFAULTS, "a"]);
});

Deno.test("--noinline: a regexp that does not compile is an argument error naming it", () => {
  assert.throws(
    () => parse(addNoInlineOptions, ["--noinline", "(oops"]),
    (e: Error) => /no-inline guard "\(oops": not a valid regular expression/.test(e.message),
  );
});

Deno.test("autopgo worker: a bad --noinline is one line on stderr before anything starts", async () => {
  const run = await runAutopgo(["worker", "--noinline", "[a-", "--port", "0"]);
  assert.equal(run.code, 1);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], /^autopgo: .*no-inline guard "\[a-": not a valid regular expression/);
});

Deno.test("autopgo worker: AUTOPGO_WORKER_NO_DEFAULT_NOINLINE and AUTOPGO_NOINLINE set the guards", async () => {
  const worker = spawnAutopgo(
    ["worker", "--event-reader-url=mem://t", "--event-writer-url=mem://t", "--blob-store-url=mem://b", "--port=0"],
    { env: { AUTOPGO_WORKER_NO_DEFAULT_NOINLINE: "true", AUTOPGO_NOINLINE: SORT } },
  );
  try {
    const line = await worker.waitFor(/no-inline guards: .*/, 30_000);
    assert.match(line[0], /no-inline guards: \^main\\\.sortRecords\$$/);
  } finally {
    await worker.stop();
  }
});

Deno.test("autopgo merge --noinline renames the guarded function, keeps every total, and records the guard", async () => {
  const [input] = committedProfiles().cpu;
  const dir = await Deno.makeTempDir({ prefix: "autopgo-noinline-merge-" });
  try {
    const out = `${dir}/guarded.pgo`;
    const run = await runAutopgo(["merge", "--compact", "--noinline", SORT, "-o", out, input]);
    assert.equal(run.code, 0, run.stderr);
    const guarded = decodeProfile(await Deno.readFile(out));
    assert.deepEqual(noInlineReport(guarded), { guards: [SORT], functions: ["main.sortRecords"] });
    assert.deepEqual(totals(guarded), totals(decodeProfile(await Deno.readFile(input))));
    const plain = await runAutopgo(["merge", "-o", `${dir}/plain.pgo`, input]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual(noInlineReport(decodeProfile(await Deno.readFile(`${dir}/plain.pgo`))), {
      guards: [],
      functions: [],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "autopgo server --noinline: the embedded worker (decode pool) stores the guarded base and records the guards",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await startAutopgoServer(["--noinline", SORT]);
    const dir = await Deno.makeTempDir({ prefix: "autopgo-noinline-server-" });
    try {
      const [input] = committedProfiles().cpu;
      const up = await runAutopgo(["upload", "--app", "svc", "--api-url", server.url, input]);
      assert.equal(up.code, 0, up.stderr);
      const out = `${dir}/default.pgo`;
      await eventually("the merged base", async () => {
        return (await runAutopgo(["download", "svc", "--api-url", server.url, "-o", out])).code === 0;
      });
      const base = decodeProfile(await Deno.readFile(out));
      assert.deepEqual(noInlineReport(base), { guards: [...DEFAULTS, SORT], functions: ["main.sortRecords"] });
      assert.deepEqual(totals(base), totals(decodeProfile(await Deno.readFile(input))));
      assert.ok(server.lines.some((l) => l.includes(`no-inline guards: ${DEFAULTS.join(" ")} ${SORT}`)));
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
