import assert from "node:assert/strict";
import { runMerge, writeFileAtomic } from "./merge.ts";
import { CliError } from "./cli_error.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { mergeProfiles } from "../core/pprof/merge.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";
import { assertSameProfile } from "../tests/support/samples.ts";

function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "autopgo-merge-test-" });
}

function load(path: string) {
  return decodeProfile(Deno.readFileSync(path));
}

Deno.test("merge command: writes the gzip merge of all inputs to -o FILE", async () => {
  const dir = await tempDir();
  try {
    const { cpu, cpuLabelled } = committedProfiles();
    const inputs = [...cpu, ...cpuLabelled];
    const out = `${dir}/merged.pb.gz`;
    await runMerge(inputs, { output: out });
    const data = await Deno.readFile(out);
    assert.deepEqual([...data.subarray(0, 2)], [0x1f, 0x8b], "gzip output");
    assertSameProfile(decodeProfile(data), mergeProfiles(inputs.map(load)));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["merged.pb.gz"], "no temp files left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("merge command: errors are one line naming the file; the output is never truncated", async () => {
  const dir = await tempDir();
  try {
    const { cpu, heap } = committedProfiles();
    const out = `${dir}/merged.pb.gz`;
    await Deno.writeTextFile(out, "previous content");
    const garbage = `${dir}/garbage.pb.gz`;
    await Deno.writeFile(garbage, new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4]));
    const cases: [string[], RegExp][] = [
      [[cpu[0], `${dir}/missing.pb.gz`], /^merge: profile ".*missing\.pb\.gz": no such file$/],
      [
        [cpu[0], heap],
        /^merge: profile ".*heap\.pb\.gz": incompatible period types cpu\/nanoseconds and space\/bytes$/,
      ],
      [[garbage], /^merge: profile ".*garbage\.pb\.gz": .+/],
      [[dir], /^merge: profile ".*": not a regular file$/],
    ];
    for (const [inputs, pattern] of cases) {
      await assert.rejects(runMerge(inputs, { output: out }), (e: unknown) => {
        assert.ok(e instanceof CliError, `CliError expected, got ${e}`);
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
      assert.equal(await Deno.readTextFile(out), "previous content");
    }
    // A failing write (target is a directory) leaves no temp file behind.
    await Deno.mkdir(`${dir}/adir`);
    await assert.rejects(runMerge([cpu[0]], { output: `${dir}/adir` }), /^CliError: merge: writing ".*adir": /);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["adir", "garbage.pb.gz", "merged.pb.gz"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic replaces the target in one step", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir}/f`;
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(path, new Uint8Array([4]));
    assert.deepEqual([...await Deno.readFile(path)], [4]);
    await assert.rejects(writeFileAtomic(`${dir}/no/such/dir/f`, new Uint8Array([1])));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
