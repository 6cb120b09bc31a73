/**
 * `deno task bench:windows [N] [PROFILES_DIR] [--minio]` (issue 14): what rebuilding
 * `default.pgo` from N retention windows costs (default 168: one-hour windows of `--retention 7d`).
 * N windows of an app are filled through processUpload (one profile each: the committed real
 * profiles, or the `.pb.gz` files of PROFILES_DIR such as the merge benchmark's data; injected
 * clock) on the mem:// store, or with `--minio` on an s3:// bucket of a local MinIO (the cached
 * binary; every store operation a request), then three things are timed 7 times each:
 * - a batch of one more upload into the newest window, rebuild included, without decay: what every
 *   merged batch costs with `--retention 7d`;
 * - `rebuildDefault` without decay when nothing changed (only the windows' comments are read);
 * - `rebuildDefault` with `--half-life 2d` (every window decoded, weighted, merged, written).
 * Prints the median, min and max of each. On this thread (no decode pool), so the figure is the CPU
 * a rebuild needs; the machine is shared, so compare runs side by side.
 *
 * @module
 */

import { openMemBlobStore } from "../adapters/blob/mem_blob.ts";
import { registerBuiltinDrivers } from "../adapters/mod.ts";
import type { BlobStore } from "../core/blob.ts";
import { openBlobStore } from "../core/registry.ts";
import { stagingKey } from "../core/pipeline/keys.ts";
import { rebuildDefault } from "../core/pipeline/window_rebuild.ts";
import type { WindowConfig } from "../core/pipeline/windows.ts";
import { processUpload } from "../core/pipeline/worker_events.ts";
import { committedProfiles } from "../tests/support/fixtures.ts";
import { quietWorkerDeps } from "../tests/support/worker_deps.ts";
import { type MinioServer, startMinio } from "../tests/support/services/minio.ts";

const HOUR = 3_600_000;

/** The bench's store: mem://, or a bucket of a MinIO started for it (stopped by `stop`). */
async function benchStore(minio: boolean): Promise<{ store: BlobStore; stop: () => Promise<void> }> {
  if (!minio) return { store: await openMemBlobStore("mem://"), stop: () => Promise.resolve() };
  const server: MinioServer = await startMinio();
  await server.createBucket("bench");
  for (const [name, value] of Object.entries(server.env)) Deno.env.set(name, value);
  registerBuiltinDrivers();
  return { store: await openBlobStore(server.url("bench")), stop: () => server.stop() };
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => a !== "--minio");
  const n = Number(args[0] ?? 168);
  const committed = committedProfiles();
  const dir = args[1];
  const profiles = dir
    ? [...Deno.readDirSync(dir)].map((e) => e.name).filter((name) => name.endsWith(".pb.gz")).sort()
      .map((name) => Deno.readFileSync(`${dir}/${name}`))
    : [...committed.cpu, ...committed.cpuLabelled].map((p) => Deno.readFileSync(p));
  const t0 = Date.UTC(2026, 0, 1);
  const clock = { now: t0 };
  const config = (halfLifeMs?: number): WindowConfig => ({
    windowMs: HOUR,
    retentionMs: 7 * 24 * HOUR,
    halfLifeMs,
    clock: () => new Date(clock.now),
  });
  const { store, stop } = await benchStore(Deno.args.includes("--minio"));
  const deps = quietWorkerDeps(store, { windows: config() });
  let uploads = 0;
  const uploadNow = async () => {
    const key = stagingKey("bench", BigInt(clock.now) * 1_000_000n, `u${uploads}`);
    await store.write(key, profiles[uploads++ % profiles.length], { ifAbsent: true });
    await processUpload(deps, "bench", key);
  };
  for (let i = 0; i < n; i++) {
    clock.now = t0 + i * HOUR;
    await uploadNow();
  }
  let bytes = 0;
  for await (const info of store.list("bench/windows/")) bytes += (await store.read(info.key)).data.length;
  console.log(`${n} windows of ${(bytes / n / 1024).toFixed(1)} KiB on average (${profiles.length} profiles)`);
  const report = (name: string, times: number[], what: string) => {
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    console.log(
      `${name}: median ${median.toFixed(0)} ms (min ${times[0].toFixed(0)}, max ${times.at(-1)!.toFixed(0)}); ${what}`,
    );
  };
  const batches: number[] = [];
  for (let r = 0; r < 7; r++) {
    clock.now += 1000;
    const started = performance.now();
    await uploadNow();
    batches.push(performance.now() - started);
  }
  report(`no decay: a batch of one upload into the newest of ${n} windows, rebuild included`, batches, "written");
  for (const [name, windows] of [["no decay", config()], ["half-life 2d", config(2 * 24 * HOUR)]] as const) {
    const times: number[] = [];
    let kind = "";
    for (let r = 0; r < 7; r++) {
      clock.now += 1;
      const started = performance.now();
      kind = (await rebuildDefault(store, "bench", windows)).kind;
      times.push(performance.now() - started);
    }
    const size = (await store.read("bench/default.pgo")).data.length;
    report(`${name}: rebuild of ${n} windows`, times, `${kind}; default.pgo ${size} bytes`);
  }
  await store.close();
  await stop();
}
