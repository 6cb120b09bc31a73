/**
 * Proves the fixture helpers deliver real data: committed and freshly generated profiles are gzip-compressed pprof
 * protobufs with samples (labelled ones with `endpoint`/`tenant` labels), and the hotpath service answers
 * net/http/pprof. Reads the protobuf with a minimal independent walker so it does not depend on the engine under test.
 *
 * @module
 */

import assert from "node:assert/strict";
import protobuf from "protobufjs/minimal";
import { skipUnlessGo } from "./support/go.ts";
import {
  buildHotpath,
  committedProfiles,
  generateProfiles,
  heapProfile,
  startHotpathServer,
} from "./support/fixtures.ts";

interface PprofShape {
  sampleTypes: string[];
  samples: number;
  labelledSamples: number;
  strings: string[];
}

async function gunzip(data: Uint8Array): Promise<Uint8Array> {
  assert.ok(data[0] === 0x1f && data[1] === 0x8b, "not gzip");
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reads sample types, sample count, labelled-sample count and the string table of a pprof protobuf. */
function readPprof(raw: Uint8Array): PprofShape {
  const reader = protobuf.Reader.create(raw);
  const typeIndexes: number[] = [];
  const strings: string[] = [];
  let samples = 0;
  let labelledSamples = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1) {
      const sub = protobuf.Reader.create(reader.bytes());
      while (sub.pos < sub.len) {
        const t = sub.uint32();
        if (t >>> 3 === 1) typeIndexes.push(Number(sub.int64()));
        else sub.skipType(t & 7);
      }
    } else if (field === 2) {
      samples++;
      const sub = protobuf.Reader.create(reader.bytes());
      let hasLabel = false;
      while (sub.pos < sub.len) {
        const t = sub.uint32();
        if (t >>> 3 === 3) hasLabel = true;
        sub.skipType(t & 7);
      }
      if (hasLabel) labelledSamples++;
    } else if (field === 6) {
      strings.push(reader.string());
    } else {
      reader.skipType(tag & 7);
    }
  }
  return { sampleTypes: typeIndexes.map((i) => strings[i]), samples, labelledSamples, strings };
}

async function readProfileFile(path: string): Promise<PprofShape> {
  return readPprof(await gunzip(await Deno.readFile(path)));
}

function assertCpuProfile(shape: PprofShape, where: string): void {
  assert.deepEqual(shape.sampleTypes, ["samples", "cpu"], `${where}: sample types`);
  assert.ok(shape.samples > 0, `${where}: no samples`);
}

Deno.test("committed profiles are real gzip pprof CPU/heap profiles", async () => {
  const committed = committedProfiles();
  assert.ok(committed.cpu.length >= 3, "need >= 3 unlabelled CPU profiles");
  assert.ok(committed.cpuLabelled.length >= 2, "need >= 2 labelled CPU profiles");
  for (const path of committed.cpu) {
    const shape = await readProfileFile(path);
    assertCpuProfile(shape, path);
    assert.equal(shape.labelledSamples, 0, `${path}: unexpected labels`);
    assert.ok(shape.strings.includes("main.totalGeometry"), `${path}: hot function missing`);
  }
  for (const path of committed.cpuLabelled) {
    const shape = await readProfileFile(path);
    assertCpuProfile(shape, path);
    assert.ok(shape.labelledSamples > 0, `${path}: no labelled samples`);
    assert.ok(shape.strings.includes("endpoint") && shape.strings.includes("tenant"), `${path}: label keys`);
  }
  for (const path of [...committed.cpu, ...committed.cpuLabelled, committed.heap]) {
    assert.ok((await Deno.stat(path)).size <= 40 * 1024, `${path}: larger than 40 KB`);
  }
  const heap = await readProfileFile(committed.heap);
  assert.ok(heap.sampleTypes.includes("inuse_space"), `heap sample types: ${heap.sampleTypes}`);
  assert.ok(heap.samples > 0, "heap profile has no samples");
});

Deno.test("generateProfiles writes real labelled CPU profiles and memoises them", async () => {
  if (!skipUnlessGo("generateProfiles")) return;
  const options = { count: 2, durationMs: 300, labels: true, rate: 500, seed: 5 };
  const [paths, again] = await Promise.all([generateProfiles(options), generateProfiles({ ...options })]);
  assert.equal(paths.length, 2);
  assert.deepEqual(again, paths, "same options must share one run");
  for (const path of paths) {
    const shape = await readProfileFile(path);
    assertCpuProfile(shape, path);
    assert.ok(shape.labelledSamples > 0, `${path}: no labelled samples`);
  }
  const unlabelled = await generateProfiles({ count: 1, durationMs: 200 });
  assert.notDeepEqual(unlabelled, paths);
  assert.equal((await readProfileFile(unlabelled[0])).labelledSamples, 0);
  const byUnits = await generateProfiles({ count: 1, durationMs: 0, units: 2000 });
  assertCpuProfile(await readProfileFile(byUnits[0]), "units-bounded profile");
});

Deno.test("heapProfile writes a heap profile, not a CPU profile", async () => {
  if (!skipUnlessGo("heapProfile")) return;
  const shape = await readProfileFile(await heapProfile());
  assert.ok(shape.sampleTypes.includes("alloc_objects"), `sample types: ${shape.sampleTypes}`);
  assert.ok(!shape.sampleTypes.includes("cpu"));
});

Deno.test("buildHotpath builds once per process", async () => {
  if (!skipUnlessGo("buildHotpath")) return;
  const [a, b] = await Promise.all([buildHotpath(), buildHotpath()]);
  assert.equal(a, b);
  assert.ok((await Deno.stat(a)).isFile);
});

Deno.test("hotpath server answers net/http/pprof and /work, and stops on close", async () => {
  if (!skipUnlessGo("startHotpathServer")) return;
  const server = await startHotpathServer();
  try {
    assert.match(server.address, /^http:\/\/127\.0\.0\.1:\d+$/);
    const work = await fetch(`${server.address}/work`);
    assert.equal(work.status, 200);
    assert.match(await work.text(), /^ok \/api\/\w+ tenant-\d+\n$/);
    const response = await fetch(`${server.address}/debug/pprof/profile?seconds=1`);
    assert.equal(response.status, 200);
    const shape = readPprof(await gunzip(new Uint8Array(await response.arrayBuffer())));
    assertCpuProfile(shape, "served profile");
    assert.ok(shape.strings.some((s) => s.startsWith("main.")), "served profile lacks fixture functions");
  } finally {
    await server.close();
  }
  await assert.rejects(fetch(`${server.address}/work`), "server still answering after close");
});
