/**
 * `deno run -A bench/upload_memory.ts [--before REV | --revert C1,C2] [--sizes 4,16,48] [--repeat 3]
 * [--concurrent 1,8]`: peak RSS of an `autopgo server` per upload size, this tree against an earlier
 * one, side by side. The earlier tree is revision REV (default: the one before the streaming upload
 * path), or, with `--revert`, HEAD with the changes of the listed commits under `core/` (or the
 * comma-separated `--revert-paths`) undone, newest first: that isolates them from everything else
 * committed since.
 *
 * For each raw size (MiB) a real labelled CPU profile of that size is built
 * (tests/support/large_profile.ts) and uploaded once raw and once gzip-compressed, with a
 * Content-Length, as a Go client sends it. Each run is a fresh server process (file store, file bus:
 * no embedded worker, so only the upload path runs) that first checks a small fixture upload (the
 * decode worker is started and warm), then reads its `VmHWM` (peak RSS so far) from /proc, uploads
 * the large profile and reads `VmHWM` again: the difference is what the upload added to the peak.
 * With `--concurrent K`, K clients upload it at once (the decode pool checks one or a few at a
 * time, so the others' bodies wait in memory).
 * Runs of the two trees alternate (before, after, after, before, …) so machine noise hits both.
 *
 * Also measured, in a child process with `--expose-gc`: the heap the decoded tables of each
 * profile take (heap used after decoding minus before, both after a full GC), next to the upload
 * meter's estimate (core/pipeline/upload_meter.ts).
 *
 * Prints a Markdown table; nothing is written into BENCHMARKS.md by this script.
 *
 * @module
 */

import { benchArgs } from "./cli.ts";
import { fileURLToPath } from "node:url";
import { committedProfiles } from "../tests/support/fixtures.ts";
import { largeLabelledProfile } from "../tests/support/large_profile.ts";
import { startAutopgo } from "../tests/support/pipeline_process.ts";
import { fileUrlFromPath } from "../adapters/driver_url.ts";
import { gzipSync } from "node:zlib";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const MIB = 1024 * 1024;

/** The last commit whose server read uploads into a chunk list and concatenated them. */
const DEFAULT_BEFORE = "16d9923";

async function git(args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("git", { args, cwd: REPO, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return out.stdout;
}

/** Extracts revision `rev` into a temporary directory (git archive: the repository is not touched). */
async function checkoutTree(rev: string, revert: string[] = [], paths = ["core/"]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-upload-before-" });
  const tar = `${dir}.tar`;
  await Deno.writeFile(tar, await git(["archive", "--format=tar", rev]));
  const out = await new Deno.Command("tar", { args: ["-xf", tar, "-C", dir], stderr: "piped" }).output();
  await Deno.remove(tar);
  if (!out.success) throw new Error(`tar: ${new TextDecoder().decode(out.stderr).trim()}`);
  for (const commit of revert) {
    const patch = await git(["show", "--format=", commit, "--", ...paths]);
    const apply = new Deno.Command("git", { args: ["apply", "-R"], cwd: dir, stdin: "piped", stderr: "piped" }).spawn();
    const writer = apply.stdin.getWriter();
    await writer.write(patch);
    await writer.close();
    const applied = await apply.output();
    if (!applied.success) throw new Error(`reverting ${commit}: ${new TextDecoder().decode(applied.stderr).trim()}`);
  }
  return dir;
}

async function peakRssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]);
}

async function post(url: string, body: Uint8Array, app = "bench", expect = 201): Promise<number> {
  const response = await fetch(`${url}/api/profile/${app}`, { method: "POST", body: body as BodyInit });
  const text = await response.text();
  if (response.status !== expect) throw new Error(`upload answered ${response.status}: ${text.trim()}`);
  return response.status;
}

/**
 * A body of `bytes` that costs only its reading: unknown top-level fields of 1 MiB (skipped by the
 * decoder, so the check while streaming lets them through) ending in a truncated one, which the
 * decoder refuses (400) without building any table.
 */
function bodyOnlyUpload(bytes: number): Uint8Array {
  const body = new Uint8Array(bytes);
  const field = [0xa2, 0x06, 0x80, 0x80, 0x40]; // field 100, wire type 2, length 1 MiB
  for (let at = 0; at + field.length <= bytes; at += field.length + MIB) body.set(field, at);
  return body;
}

/** One server run: the peak RSS (KiB) that `concurrent` uploads of `body` at once added. */
async function measureRun(
  tree: string,
  body: Uint8Array,
  warmup: Uint8Array,
  concurrent: number,
  expect: number,
): Promise<{ addedKiB: number }> {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-upload-mem-" });
  await Deno.mkdir(`${dir}/bus`);
  const server = await startAutopgo([
    "server",
    ...["--port", "0", "--host", "127.0.0.1", "--data-dir", `${dir}/data`],
    ...["--event-writer-url", fileUrlFromPath(`${dir}/bus`), "--max-upload-size", "64MiB"],
  ], { command: [Deno.execPath(), "run", "-A", `${tree}/main.ts`] });
  try {
    const pid = server.child.pid;
    await post(server.url, warmup);
    await post(server.url, warmup);
    const base = await peakRssKiB(pid);
    await Promise.all(Array.from({ length: concurrent }, (_, i) => post(server.url, body, `bench-${i}`, expect)));
    return { addedKiB: (await peakRssKiB(pid)) - base };
  } finally {
    await server.stop("SIGTERM", 10_000);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Heap bytes of the decoded tables of `path`, measured in a child with `--expose-gc`. */
async function measureTables(path: string): Promise<{ heap: number; estimate: number }> {
  const script = `
    import { decodeProfile } from ${JSON.stringify(`${REPO}core/pprof/decode.ts`)};
    import { decodedTableBytes } from ${JSON.stringify(`${REPO}core/pipeline/upload_meter.ts`)};
    const data = Deno.readFileSync(${JSON.stringify(path)});
    globalThis.gc(); globalThis.gc();
    const before = Deno.memoryUsage().heapUsed;
    const p = decodeProfile(data, { maxSamples: 1e7, maxStrings: 1e8, maxTotalLabels: 1e8 });
    globalThis.gc(); globalThis.gc();
    const heap = Deno.memoryUsage().heapUsed - before;
    console.log(JSON.stringify({ heap, estimate: decodedTableBytes(p), samples: p.sample.length }));
  `;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc,--max-old-space-size=4096", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`measuring tables: ${new TextDecoder().decode(out.stderr).trim()}`);
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(file);
  }
}

const mib = (bytes: number) => (bytes / MIB).toFixed(1);

async function main(): Promise<void> {
  const { values } = benchArgs(import.meta.url, {
    options: {
      before: { type: "string" },
      revert: { type: "string" },
      "revert-paths": { type: "string" },
      sizes: { type: "string" },
      repeat: { type: "string" },
      concurrent: { type: "string" },
      "body-only": { type: "boolean" },
    },
  });
  const revert = values.revert?.split(",") ?? [];
  const beforeRev = values.before ?? (revert.length ? "HEAD" : DEFAULT_BEFORE);
  const sizes = (values.sizes ?? "4,16,48").split(",").map(Number);
  const repeat = Number(values.repeat ?? 3);
  const concurrency = (values.concurrent ?? "1").split(",").map(Number);
  if (sizes.some((s) => !(s > 0)) || !(repeat >= 1) || concurrency.some((k) => !Number.isSafeInteger(k) || k < 1)) {
    throw new Error("--sizes takes MiB like 4,16,48; --repeat n ≥ 1; --concurrent takes counts like 1,8");
  }
  const before = await checkoutTree(beforeRev, revert, values["revert-paths"]?.split(","));
  const head = new TextDecoder().decode(await git(["rev-parse", "--short", "HEAD"])).trim();
  const after = await checkoutTree("HEAD"); // committed code only: other work in progress stays out
  const warmup = await Deno.readFile(committedProfiles().cpuLabelled[0]);
  const rows: string[] = [];
  try {
    for (const size of sizes) {
      let cases: [string, Uint8Array, number][];
      let tables = "–";
      if (values["body-only"]) {
        cases = [["body only, refused after reading", bodyOnlyUpload(size * MIB), 400]];
      } else {
        const raw = largeLabelledProfile(size * MIB);
        const gz = new Uint8Array(gzipSync(raw));
        const rawPath = await Deno.makeTempFile({ suffix: ".pb" });
        await Deno.writeFile(rawPath, raw);
        const measured = await measureTables(rawPath);
        await Deno.remove(rawPath);
        tables = `${mib(measured.heap)} MiB (est. ${mib(measured.estimate)})`;
        cases = [[`raw`, raw, 201], [`gzip (${mib(raw.byteLength)} MiB raw)`, gz, 201]];
      }
      for (const [encoding, body, expect] of cases) {
        for (const k of concurrency) {
          const runs: Record<"before" | "after", number[]> = { before: [], after: [] };
          for (let r = 0; r < repeat; r++) {
            const order = r % 2 === 0 ? (["before", "after"] as const) : (["after", "before"] as const);
            for (const side of order) {
              const { addedKiB } = await measureRun(side === "before" ? before : after, body, warmup, k, expect);
              runs[side].push(addedKiB / 1024);
              console.error(`${size} MiB ${encoding} ×${k} ${side}: +${(addedKiB / 1024).toFixed(0)} MiB peak RSS`);
            }
          }
          const b = median(runs.before), a = median(runs.after);
          rows.push(
            `| ${k === 1 ? "" : `${k} × `}${mib(body.byteLength)} MiB ${encoding} | ${tables} | ` +
              `${b.toFixed(0)} MiB | ${a.toFixed(0)} MiB | ${(a - b).toFixed(0)} MiB | ` +
              `${runs.before.map((x) => x.toFixed(0)).join(", ")} / ${
                runs.after.map((x) => x.toFixed(0)).join(", ")
              } |`,
          );
        }
      }
    }
  } finally {
    await Deno.remove(before, { recursive: true }).catch(() => {});
    await Deno.remove(after, { recursive: true }).catch(() => {});
  }
  console.log(
    `Before: ${beforeRev}${
      revert.length ? ` without ${revert.join(", ")} (${values["revert-paths"] ?? "core/"})` : ""
    }, ` +
      `after: ${head}; ` +
      `${repeat} runs per cell, alternated, median; ` +
      `peak RSS added by the upload(s) over a warmed-up server.\n\n` +
      `| upload | decoded tables (heap, measured) | before | after | after − before | runs before / after |\n` +
      `|---|---|---|---|---|---|\n${rows.join("\n")}`,
  );
}

if (import.meta.main) await main();
