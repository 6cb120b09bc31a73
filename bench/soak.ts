/**
 * `deno task soak`: the kill -9 soak at any size. One `autopgo server`, two workers and a
 * scraper run as separate processes on a `file://` store and bus (or the URLs given); while
 * uploads run, each worker and the server are killed with SIGKILL and restarted. Every
 * acknowledged upload must end merged exactly once, checked sample for sample against
 * `go tool pprof -proto` (tests/support/distributed_pipeline.ts). The figures go into
 * BENCHMARKS.md between `<!-- bench:soak:start -->` and `<!-- bench:soak:end -->`.
 *
 * Usage: deno task soak [--uploads 1000] [--worker-kills 10] [--server-kills 3] [--no-write]
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { fileUrlFromPath } from "../adapters/mod.ts";
import { runDistributedPipeline } from "../tests/support/distributed_pipeline.ts";
import { formatMarkdown, replaceSection } from "./run.ts";

const BENCHMARKS_MD = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      uploads: { type: "string", default: "1000" },
      "worker-kills": { type: "string", default: "10" },
      "server-kills": { type: "string", default: "3" },
      "no-write": { type: "boolean", default: false },
    },
  });
  const uploads = Number(values.uploads);
  const killsPerWorker = Number(values["worker-kills"]);
  const serverKills = Number(values["server-kills"]);
  const root = await Deno.makeTempDir({ prefix: "autopgo-soak-" });
  try {
    await Deno.mkdir(`${root}/store`);
    await Deno.mkdir(`${root}/bus`);
    const bus = fileUrlFromPath(`${root}/bus`);
    const started = Date.now();
    const report = await runDistributedPipeline({
      blobUrl: fileUrlFromPath(`${root}/store`),
      writerUrl: bus,
      readerUrl: `${bus}?poll=20ms`,
      uploads,
      killsPerWorker,
      serverKills,
    });
    const seconds = (Date.now() - started) / 1000;
    const table = [
      `One server, two workers and a scraper on a file:// store and bus; ${uploads} concurrent uploads (8 clients,`,
      "3 apps) plus the scraper's; workers and server killed with SIGKILL mid-run and restarted. Checked against",
      "`go tool pprof -proto`: every acknowledged upload merged exactly once.",
      "",
      "| uploads accepted | scraped | worker kills | server kills | lost | counted twice | drain (first upload → nothing staged) | run |",
      "|---|---|---|---|---|---|---|---|",
      `| ${report.accepted} | ${report.scraped} | ${report.workerKills} | ${report.serverKills} | 0 | 0 | ${
        (report.drainMs / 1000).toFixed(1)
      } s | ${seconds.toFixed(0)} s |`,
      "",
      `Reproduce: \`deno task soak --uploads ${uploads} --worker-kills ${killsPerWorker} --server-kills ${serverKills}\``,
    ].join("\n");
    console.log(table);
    if (!values["no-write"]) {
      await Deno.writeTextFile(BENCHMARKS_MD, replaceSection(await Deno.readTextFile(BENCHMARKS_MD), "soak", table));
      await formatMarkdown(BENCHMARKS_MD);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
