import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { runMerge } from "./merge.ts";
import { CliError } from "./cli_error.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { edgeMap, serializePreprofile } from "../core/pprof/edges.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";

Deno.test("merge --compact: same compiler edge map as the plain merge, far less data", async () => {
  const { cpu, cpuLabelled, heap } = committedProfiles();
  const inputs = [...cpu, ...cpuLabelled];
  const dir = await Deno.makeTempDir();
  try {
    await runMerge(inputs, { output: `${dir}/full.pb.gz` });
    await runMerge(inputs, { output: `${dir}/compact.pb.gz`, compact: true });
    const full = decodeProfile(await Deno.readFile(`${dir}/full.pb.gz`));
    const compact = decodeProfile(await Deno.readFile(`${dir}/compact.pb.gz`));
    assertEquals(serializePreprofile(edgeMap(compact)), serializePreprofile(edgeMap(full)));
    ok(full.sample.some((s) => s.label !== undefined && s.location.length > 2));
    ok(compact.sample.every((s) => s.label === undefined && s.location.length <= 2));
    assertEquals(compact.sampleType, full.sampleType);
    assertEquals(compact.mapping, []);
    ok((await Deno.stat(`${dir}/compact.pb.gz`)).size < (await Deno.stat(`${dir}/full.pb.gz`)).size);
    await rejects(runMerge([heap], { output: `${dir}/heap.pb.gz`, compact: true }), (e: Error) => {
      ok(e instanceof CliError && e.message.startsWith("merge: --compact: ") && e.message.includes("samples/count"));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
