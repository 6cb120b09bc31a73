/**
 * Issue 14, "done when": merging into retention windows keeps every guarantee the worker has —
 * exactly once under concurrent workers, redelivery and kill -9. The distributed harness
 * (tests/support/distributed_pipeline.ts: a server, two worker processes and a scraper on 127.0.0.1)
 * runs with `--retention 7d --window 1m` on the workers, over a file:// store and a file:// bus that
 * delivers every event twice, SIGKILLs each worker twice mid-run, and checks every app's rebuilt
 * `default.pgo` against `go tool pprof -proto` of exactly what was accepted: 0 lost, 0 counted twice.
 */

import assert from "node:assert/strict";
import { fileUrlFromPath } from "../adapters/mod.ts";
import { readBaseState } from "../core/pipeline/base_state.ts";
import { decodeProfile } from "../core/pprof/decode.ts";
import { runDistributedPipeline } from "./support/distributed_pipeline.ts";
import { goAvailable } from "./support/go.ts";
import { serviceSkip } from "./support/services/service.ts";

Deno.test({
  name: "windows: two workers, duplicated events and SIGKILLs merge every upload once into windows",
  ignore: Boolean(serviceSkip("go", goAvailable(), "the oracle is go tool pprof")),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "autopgo-windows-" });
  try {
    await Deno.mkdir(`${root}/bus`);
    const bus = fileUrlFromPath(`${root}/bus`);
    const report = await runDistributedPipeline({
      blobUrl: fileUrlFromPath(`${root}/store`),
      writerUrl: `${bus}?duplicate=2`,
      readerUrl: `${bus}?poll=20ms`,
      uploads: 90,
      killsPerWorker: 2,
      workerArgs: ["--retention", "7d", "--window", "1m", "--sweep-interval", "5s", "--sweep-grace", "5s"],
    });
    console.log(`windows, file bus with duplicates: ${JSON.stringify(report)}`);
    // The workers did merge into windows, and default.pgo was rebuilt from them.
    const windows = [...Deno.readDirSync(`${root}/store/alpha/windows`)].map((e) => e.name)
      .filter((n) => !n.startsWith(".")); // the file store's version sidecars
    assert.ok(windows.length >= 1 && windows.every((n) => /^\d{12}\.pgo$/.test(n)), windows.join(" "));
    const state = readBaseState(decodeProfile(await Deno.readFile(`${root}/store/alpha/default.pgo`)).comments);
    assert.equal(state.coverage?.count, windows.length);
    assert.equal(state.coverage?.retentionSeconds, 7 * 86_400);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
