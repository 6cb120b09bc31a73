/**
 * The upload mutation run of issue 15 ("one odd upload must never block an app"), shared by the
 * seeded sample in tests/upload_mutation_test.ts and `deno task mutate` (bench/upload_mutations.ts,
 * 20,000 uploads or more).
 *
 * Against a real `autopgo server` (embedded file store and worker, `--port 0`) it sends, for one
 * app, `uploads` mutants of the committed real CPU profiles, raw and gzip: stacked seeded
 * byte-level mutations (mutations.ts) of the raw protobuf or of the gzip stream, and now and then
 * a type-level variant (renamed, reordered, extra or missing sample types, a foreign period type,
 * a negative value: profile_variants.ts), itself sometimes byte-mutated. Then it sends the real profiles unchanged, waits until staging is
 * empty and reads back what the worker did. The report holds the figures the run is judged by: no
 * 5xx; every real profile accepted; nothing left in staging; the base counts as many merged
 * uploads (`autopgo.merged`) as got 201; nothing set aside (in `<app>/rejected/` and in the
 * `rejected` array of `GET /api/profile`).
 *
 * @module
 */

import * as zlib from "node:zlib";
import { readBaseState } from "../../core/pipeline/base_state.ts";
import { decodeComments } from "../../core/pprof/comments.ts";
import { committedProfiles } from "./fixtures.ts";
import { randomMutation, seededRandom } from "./mutations.ts";
import { listFiles, startAutopgo, upload, waitFor } from "./pipeline_process.ts";
import { MAPPABLE_VARIANTS, UNMAPPABLE_VARIANTS, type Variant, variantBytes } from "./profile_variants.ts";

/** Options of {@link runUploadMutations}. */
export interface UploadMutationOptions {
  seed: number;
  /** Mutated uploads sent before the real profiles. */
  uploads: number;
  /** Uploads in flight at once (default 8, well under the server's decode queue of 64). */
  concurrency?: number;
  /** `--compaction` of the server (default its own default, pgo). */
  compaction?: "pgo" | "none";
  /** Longest wait for the worker to empty staging after the last upload (default 10 minutes). */
  drainTimeoutMs?: number;
  /** Command that runs autopgo instead of this tree's main.ts (e.g. an older checkout, to compare). */
  command?: string[];
  /** Called every `progressEvery` uploads (default 1,000). */
  onProgress?: (sent: number, statuses: Record<string, number>) => void;
  progressEvery?: number;
}

/** What a run did; see the module doc for how it is judged. */
export interface UploadMutationReport {
  seed: number;
  /** Mutated uploads sent (the real profiles come on top). */
  uploads: number;
  /** Of which type-level variants. */
  variants: number;
  /** Real profiles sent after the mutants, and how many got 201. */
  real: number;
  realAccepted: number;
  /** HTTP status → count, over every upload (mutants and real). */
  statuses: Record<string, number>;
  /** Answers with a 5xx status. */
  serverErrors: number;
  /** Uploads answered 201. */
  accepted: number;
  /** Uploads the base counts as merged (`autopgo.merged`). */
  merged: number;
  /** Objects set aside in `<app>/rejected/` (uploads and bases, `.reason` files not counted). */
  setAside: number;
  /** Set-aside uploads as `GET /api/profile` lists them (its `rejected` array). */
  listedRejected: number;
  /** Staged uploads left once the worker was done (or gave up waiting). */
  leftInStaging: number;
  /** Seconds sending, and seconds until staging was empty. */
  sendSeconds: number;
  drainSeconds: number;
  /** Up to 10 distinct one-line reasons of 4xx answers, for the record. */
  sampleReasons: string[];
}

const APP = "victim";

/** The real profiles: each committed CPU profile as committed (gzip). */
function realProfiles(): Uint8Array[] {
  return [...committedProfiles().cpu, ...committedProfiles().cpuLabelled].map((f) => Deno.readFileSync(f));
}

const VARIANTS: Variant[] = [
  ...Object.values(MAPPABLE_VARIANTS),
  ...Object.values(UNMAPPABLE_VARIANTS).map((u) => u.variant),
];

function gzip(data: Uint8Array): Uint8Array {
  return new Uint8Array(zlib.gzipSync(data));
}

/**
 * One mutant of a real profile: 1–3 stacked byte mutations (1 most often) of its raw protobuf sent
 * raw (40%) or gzip'd (30%), or of its gzip stream (30%); 1 in 16 is first rewritten to a type
 * variant.
 */
function mutant(raws: Uint8Array[], rand: () => number): { data: Uint8Array; variant: boolean } {
  let data = raws[Math.floor(rand() * raws.length)];
  const variant = rand() < 1 / 16;
  if (variant) {
    data = new Uint8Array(zlib.gunzipSync(variantBytes(data, VARIANTS[Math.floor(rand() * VARIANTS.length)])));
  }
  const form = rand();
  if (form >= 0.7) data = gzip(data);
  const r = rand();
  const stacked = variant ? Math.floor(r * 2) : r < 0.6 ? 1 : r < 0.9 ? 2 : 3;
  for (let k = 0; k < stacked; k++) data = randomMutation(data, rand).mutant;
  if (form >= 0.4 && form < 0.7) data = gzip(data);
  return { data, variant };
}

/** Runs the mutation run against a fresh server; see the module doc. Throws only when the server cannot start. */
export async function runUploadMutations(opts: UploadMutationOptions): Promise<UploadMutationReport> {
  const dataDir = await Deno.makeTempDir({ prefix: "autopgo-mutations-" });
  const args = ["server", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir];
  if (opts.compaction) args.push("--compaction", opts.compaction);
  const server = await startAutopgo(args, { command: opts.command });
  const real = realProfiles();
  const raws = real.map((d) => new Uint8Array(zlib.gunzipSync(d)));
  const rand = seededRandom(opts.seed);
  const report: UploadMutationReport = {
    seed: opts.seed,
    uploads: opts.uploads,
    variants: 0,
    real: 0,
    realAccepted: 0,
    statuses: {},
    serverErrors: 0,
    accepted: 0,
    merged: 0,
    setAside: 0,
    listedRejected: 0,
    leftInStaging: 0,
    sendSeconds: 0,
    drainSeconds: 0,
    sampleReasons: [],
  };
  const record = (status: number, body: Record<string, unknown>) => {
    report.statuses[status] = (report.statuses[status] ?? 0) + 1;
    if (status >= 500) report.serverErrors++;
    if (status === 201) report.accepted++;
    const reason = typeof body.message === "string" ? body.message.replace(/\d+/g, "N") : "";
    if (status >= 400 && status < 500 && report.sampleReasons.length < 10 && !report.sampleReasons.includes(reason)) {
      report.sampleReasons.push(reason);
    }
  };
  const started = performance.now();
  try {
    // Mutants are drawn in order (the run is reproducible from its seed), sent `concurrency` at a time.
    const inputs = Array.from({ length: opts.uploads }, () => mutant(raws, rand));
    report.variants = inputs.filter((m) => m.variant).length;
    let next = 0;
    const sender = async () => {
      while (next < inputs.length) {
        const i = next++;
        const { status, body } = await upload(server.url, APP, inputs[i].data);
        record(status, body);
        const sent = Object.values(report.statuses).reduce((a, b) => a + b, 0);
        if (opts.onProgress && sent % (opts.progressEvery ?? 1_000) === 0) opts.onProgress(sent, report.statuses);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, sender));
    for (const data of real) {
      const { status, body } = await upload(server.url, APP, data);
      record(status, body);
      report.real++;
      if (status === 201) report.realAccepted++;
    }
    report.sendSeconds = (performance.now() - started) / 1000;
    const staged = async () => (await listFiles(dataDir)).filter((f) => f.startsWith(`${APP}/staging/`)).length;
    try {
      await waitFor(async () => (await staged()) === 0, opts.drainTimeoutMs ?? 600_000, "staging to drain");
    } catch { /* reported as leftInStaging */ }
    report.drainSeconds = (performance.now() - started) / 1000 - report.sendSeconds;
    report.leftInStaging = await staged();
    const files = await listFiles(dataDir);
    report.setAside = files.filter((f) => f.startsWith(`${APP}/rejected/`) && !f.endsWith(".reason")).length;
    const base = await fetch(`${server.url}/api/profile/${APP}`);
    if (base.status === 200) {
      report.merged = readBaseState(decodeComments(new Uint8Array(await base.arrayBuffer()))).merged ?? 0;
    } else {
      await base.body?.cancel();
    }
    const listing = await (await fetch(`${server.url}/api/profile`)).json();
    report.listedRejected = (listing.rejected ?? []).reduce(
      (n: number, r: { count: number; bases: number }) => n + r.count + r.bases,
      0,
    );
    return report;
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** One line per figure the run is judged by that is off (empty when the run passed). */
export function mutationRunProblems(r: UploadMutationReport): string[] {
  const problems: string[] = [];
  if (r.serverErrors > 0) problems.push(`${r.serverErrors} answers were 5xx: ${JSON.stringify(r.statuses)}`);
  if (r.realAccepted !== r.real) problems.push(`only ${r.realAccepted} of ${r.real} real profiles got 201`);
  if (r.leftInStaging > 0) problems.push(`${r.leftInStaging} uploads left in staging`);
  if (r.setAside > 0 || r.listedRejected > 0) {
    problems.push(`${r.setAside} set aside by the worker (${r.listedRejected} listed by GET /api/profile)`);
  }
  if (r.merged !== r.accepted) problems.push(`${r.accepted} uploads got 201 but the base counts ${r.merged} merged`);
  return problems;
}
