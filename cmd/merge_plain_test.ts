import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { plainMergeArgs } from "./merge_plain.ts";
import { collectGarbage, mergeProfileFilesEncoded } from "./merge_io.ts";
import { EncodedProfileMerger } from "../core/pprof/fast_merge.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const noEnv = () => false;

Deno.test("plainMergeArgs: takes merge with input paths and one -o/--output", () => {
  assert.deepEqual(plainMergeArgs(["merge", "a.pb.gz"], noEnv), { paths: ["a.pb.gz"], output: "-" });
  assert.deepEqual(plainMergeArgs(["merge", "-o", "out.pb.gz", "a", "-", "b"], noEnv), {
    paths: ["a", "-", "b"],
    output: "out.pb.gz",
  });
  assert.deepEqual(plainMergeArgs(["merge", "a", "--output", "-"], noEnv), { paths: ["a"], output: "-" });
  assert.deepEqual(plainMergeArgs(["merge", "--output=o", "a"], noEnv), { paths: ["a"], output: "o" });
});

Deno.test("plainMergeArgs: leaves everything else to commander", () => {
  const refused: string[][] = [
    [],
    ["merge"],
    ["merge", "-o", "out"],
    ["inspect", "a"],
    ["-l", "debug", "merge", "a"],
    ["merge", "a", "-l", "debug"],
    ["merge", "a", "--log-format", "json"],
    ["merge", "--help"],
    ["merge", "-h", "a"],
    ["merge", "--compact", "a"],
    ["merge", "--noinline", "x", "a"],
    ["merge", "--default-noinline", "a"],
    ["merge", "--", "a"],
    ["merge", "-x", "a"],
    ["merge", "-oout", "a"],
    ["merge", "-o", "a", "-o", "b", "c"],
    ["merge", "-o", "", "a"],
    ["merge", "-o", "--compact", "a"],
    ["merge", "a", "-o"],
  ];
  for (const args of refused) assert.equal(plainMergeArgs(args, noEnv), undefined, args.join(" "));
  for (const name of ["AUTOPGO_LOG_LEVEL", "AUTOPGO_LOG_FORMAT"]) {
    assert.equal(plainMergeArgs(["merge", "a"], (n) => n === name), undefined, name);
  }
});

async function run(args: string[]): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const env = { ...Deno.env.toObject() };
  delete env.AUTOPGO_LOG_LEVEL;
  delete env.AUTOPGO_LOG_FORMAT;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", MAIN, ...args],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("autopgo merge: the plain path writes and fails exactly as commander's path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-merge-plain-" });
  try {
    const { cpu, cpuLabelled } = committedProfiles();
    const inputs = [...cpu, ...cpuLabelled];
    // A root option after the inputs sends the same merge through commander.
    const plain = await run(["merge", "-o", `${dir}/plain.pb.gz`, ...inputs]);
    const commander = await run(["merge", "-o", `${dir}/commander.pb.gz`, ...inputs, "--log-level", "info"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(commander.code, 0, commander.stderr);
    assert.deepEqual(await Deno.readFile(`${dir}/plain.pb.gz`), await Deno.readFile(`${dir}/commander.pb.gz`));

    const piped = await run(["merge", ...inputs]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(piped.stdout, await Deno.readFile(`${dir}/plain.pb.gz`), "-o - by default");

    for (
      const args of [
        ["merge", "-o", `${dir}/x.pb.gz`, cpu[0], `${dir}/missing.pb.gz`],
        ["merge", "-o", `${dir}/nofolder/x.pb.gz`, cpu[0]],
        ["merge", "-o", `${dir}/x.pb.gz`, dir],
      ]
    ) {
      const a = await run(args), b = await run([...args, "--log-level", "info"]);
      assert.equal(a.code, 1, a.stderr);
      assert.equal(a.code, b.code);
      assert.equal(a.stderr, b.stderr);
      assert.match(a.stderr, /^autopgo: merge: [^\n]+\n$/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mergeProfileFilesEncoded: a merge of over 1 MiB of input (collected before encoding) gives the fused bytes", () => {
  const { cpu } = committedProfiles();
  const paths = Array.from({ length: 120 }, (_, i) => cpu[i % cpu.length]);
  const merger = new EncodedProfileMerger();
  for (const path of paths) merger.add(Deno.readFileSync(path));
  assert.deepEqual(mergeProfileFilesEncoded(paths), merger.finish());
});

Deno.test("collectGarbage: runs, or does nothing, without throwing", () => {
  collectGarbage();
  collectGarbage();
});
