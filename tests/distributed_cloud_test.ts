/**
 * The original's multi-machine deployment on real stores and brokers, as separate processes
 * (tests/support/distributed_pipeline.ts): server, two workers and a scraper; 200 concurrent
 * uploads for three apps plus the scraped app; exact against `go tool pprof -proto`.
 *
 * @module
 */

import { fileUrlFromPath } from "../adapters/mod.ts";
import { runDistributedPipeline } from "./support/distributed_pipeline.ts";
import { skipUnlessGo } from "./support/go.ts";

Deno.test("distributed: file:// store and file:// bus, each worker killed with SIGKILL twice", async () => {
  if (!skipUnlessGo("distributed file pipeline")) return;
  const root = await Deno.makeTempDir({ prefix: "autopgo-dist-file-" });
  try {
    await Deno.mkdir(`${root}/store`);
    await Deno.mkdir(`${root}/bus`);
    const bus = fileUrlFromPath(`${root}/bus`);
    const report = await runDistributedPipeline({
      blobUrl: fileUrlFromPath(`${root}/store`),
      writerUrl: bus,
      readerUrl: `${bus}?poll=20ms&ackdeadline=5s`,
      killsPerWorker: 2,
    });
    console.log(`file/file: ${JSON.stringify(report)}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
