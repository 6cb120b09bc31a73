/**
 * Mutation fuzzing of the decoder and the upload route, shared by `deno task fuzz` (bench/fuzz.ts,
 * a million inputs or more) and the small seeded run in tests/robustness_test.ts.
 *
 * Inputs are seeded, stacked byte-level mutations (mutations.ts) of the committed real profiles
 * (gzip and raw) and of small crafted profiles that sit near the decode budget's edges. Every
 * input must end as a decoded profile that respects the upload budget (and survives the checks
 * the server applies, and sometimes the whole merge preparation and an encode/decode round trip)
 * or as a one-line ProfileError — never another exception, never an input slower than `slowMs`.
 * A sample of the inputs also goes through the Hono upload route in-process, checked in a real
 * decode pool (Web Worker): the answer must be 201, 400 or 422 exactly as the direct verdict says.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { openMemBlobStore } from "../../adapters/blob/mem_blob.ts";
import { DecodePool } from "../../core/pipeline/decode_pool.ts";
import { checkUploadBytes, normalizeUpload, prepareProfile } from "../../core/pipeline/profile_jobs.ts";
import { createServerApp } from "../../core/pipeline/server_app.ts";
import { uploadDecodeLimits } from "../../core/pipeline/upload_limits.ts";
import { decodeProfile } from "../../core/pprof/decode.ts";
import { encodeProfile } from "../../core/pprof/encode.ts";
import { ProfileError } from "../../core/pprof/errors.ts";
import { type DecodeLimits, resolveDecodeLimits, workBudget } from "../../core/pprof/limits.ts";
import type { Profile } from "../../core/pprof/profile.ts";
import {
  deepStackProfile,
  gzip,
  manyEntitiesProfile,
  manyLabelsProfile,
  wideLocationProfile,
} from "./crafted_profiles.ts";
import { committedProfiles } from "./fixtures.ts";
import { randomMutation, seededRandom } from "./mutations.ts";

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  seed: number;
  inputs: number;
  /** Every n-th input also goes through the upload route (default 100; 0: never). */
  routeEvery?: number;
  /** An input taking longer than this (decode and checks) is a failure: a hang (default 2 s). */
  slowMs?: number;
  /** Called every `progressEvery` inputs (default 50,000). */
  onProgress?: (report: FuzzReport) => void;
  progressEvery?: number;
}

/** What a run did. */
export interface FuzzReport {
  seed: number;
  inputs: number;
  seconds: number;
  /** Inputs per second. */
  rate: number;
  /** Per outcome: "usable", "unusable" (decoded, not PGO-usable) or the ProfileError kind. */
  outcomes: Record<string, number>;
  /** Inputs sent through the upload route, and the statuses they got. */
  routed: number;
  routeStatuses: Record<string, number>;
  /** The slowest input, for the record. */
  slowestMs: number;
  slowestCase: string;
  /** One line per failing input (empty when the run passed). */
  failures: string[];
}

const LIMITS: DecodeLimits = resolveDecodeLimits(uploadDecodeLimits(64 << 20));

/** The seed inputs: real profiles (gzip and raw) and small crafted ones near the budget's edges. */
export function fuzzSeeds(): Uint8Array[] {
  const committed = committedProfiles();
  const gz = [...committed.cpu, ...committed.cpuLabelled, committed.heap].map((p) => Deno.readFileSync(p));
  const raw = gz.map((d) => new Uint8Array(zlib.gunzipSync(d)));
  // Small, and each just inside one limit of the upload budget, so mutations cross it both ways.
  const crafted = [
    wideLocationProfile({ lines: 40, samples: 40 }),
    wideLocationProfile({ lines: 510, samples: 60 }), // 61,200 inline frames, budget ~110,000
    deepStackProfile({ depth: 4_090, samples: 2 }), // 4,096 frames per sample at most
    manyLabelsProfile({ labels: 1_020, samples: 2 }), // 1,024 labels per sample at most
    manyEntitiesProfile({ count: 80, nameBytes: 3_000 }), // 480,000 referenced characters, budget ~520,000
  ];
  return [...raw, ...raw, ...gz, ...crafted, ...crafted.map(gzip)];
}

/** The totals a decoded profile must respect under the upload budget; a problem's description, or undefined. */
function budgetProblem(p: Profile, inputBytes: number): string | undefined {
  const budget = workBudget(LIMITS, inputBytes);
  let frames = 0, inline = 0, labels = 0;
  for (const s of p.sample) {
    frames += s.location.length;
    for (const l of s.location) inline += l.line.length || 1;
    for (const values of Object.values(s.label ?? {})) labels += values.length;
    for (const values of Object.values(s.numLabel ?? {})) labels += values.length;
  }
  if (frames > LIMITS.maxTotalFrames) return `${frames} frames`;
  if (inline > budget.inlineFrames) return `${inline} inline frames over ${budget.inlineFrames}`;
  if (labels > LIMITS.maxTotalLabels) return `${labels} labels`;
  if (p.sample.length > LIMITS.maxSamples || p.location.length > LIMITS.maxLocations) return "entity counts";
  return undefined;
}

/** Runs one input through the decoder and the checks; returns its outcome or throws a failure. */
function fuzzOne(data: Uint8Array, deep: boolean): string {
  let p: Profile;
  try {
    p = decodeProfile(data, LIMITS);
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    if (error.message.includes("\n")) throw new Error(`multi-line ProfileError: ${error.message}`);
    return error.kind;
  }
  const problem = budgetProblem(p, data.length);
  if (problem) throw new Error(`decoded beyond the budget: ${problem}`);
  // The server's own verdict logic (canonical form, values, PGO check), on the decoded profile.
  const usable = "profile" in normalizeUpload(p);
  if (deep) {
    // The server's job and the worker's preparation agree with the direct decode, and what the
    // worker would store decodes again.
    const verdict = checkUploadBytes(data, LIMITS);
    if (verdict.status !== (usable ? "usable" : "unusable")) throw new Error(`upload job says ${verdict.status}`);
    const prepared = prepareProfile(data, [{ drop: /^runtime\./ }], "pgo", LIMITS);
    if (usable !== "profile" in prepared) throw new Error(`merge preparation disagrees: ${JSON.stringify(prepared)}`);
    if ("profile" in prepared) decodeProfile(encodeProfile(prepared.profile));
  }
  return usable ? "usable" : "unusable";
}

const EXPECTED_STATUS: Record<string, number> = { usable: 201, unusable: 422 };

/** Runs the fuzzer; see the module doc. Never throws for a failing input: failures are reported. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const seeds = fuzzSeeds();
  const rand = seededRandom(opts.seed);
  const routeEvery = opts.routeEvery ?? 100;
  const slowMs = opts.slowMs ?? 2_000;
  const report: FuzzReport = {
    seed: opts.seed,
    inputs: 0,
    seconds: 0,
    rate: 0,
    outcomes: {},
    routed: 0,
    routeStatuses: {},
    slowestMs: 0,
    slowestCase: "",
    failures: [],
  };
  const pool = routeEvery > 0 ? new DecodePool({ size: 1, queueLimit: 4 }) : undefined;
  let hono: ReturnType<typeof createServerApp> | undefined;
  const started = performance.now();
  try {
    for (let i = 0; i < opts.inputs; i++) {
      report.inputs = i + 1;
      let mutant = seeds[i % seeds.length];
      const names: string[] = [];
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
        const { name, mutant: next } = randomMutation(mutant, rand);
        names.push(name);
        mutant = next;
      }
      const where = `seed ${opts.seed} input ${i} (${names.join("+")} of seed input ${i % seeds.length})`;
      const t0 = performance.now();
      let outcome: string;
      try {
        outcome = fuzzOne(mutant, i % 16 === 0);
      } catch (error) {
        report.failures.push(`${where}: ${error instanceof Error ? error.stack ?? error.message : error}`);
        continue;
      }
      const ms = performance.now() - t0;
      if (ms > report.slowestMs) [report.slowestMs, report.slowestCase] = [ms, where];
      if (ms > slowMs) report.failures.push(`${where}: took ${ms.toFixed(0)} ms`);
      report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
      if (pool && i % routeEvery === 0) {
        if (report.routed % 500 === 0) hono = await uploadApp(pool); // a fresh store now and then
        const response = await hono!.fetch(
          new Request("http://fuzz/api/profile/fuzz", { method: "POST", body: mutant.slice() as BodyInit }),
        );
        await response.body?.cancel();
        report.routed++;
        report.routeStatuses[response.status] = (report.routeStatuses[response.status] ?? 0) + 1;
        const want = EXPECTED_STATUS[outcome] ?? 400;
        if (response.status !== want) report.failures.push(`${where}: route answered ${response.status}, want ${want}`);
      }
      if (opts.onProgress && report.inputs % (opts.progressEvery ?? 50_000) === 0) {
        opts.onProgress(finish(report, started));
      }
    }
  } finally {
    pool?.close();
  }
  return finish(report, started);
}

function finish(report: FuzzReport, started: number): FuzzReport {
  report.seconds = (performance.now() - started) / 1000;
  report.rate = report.inputs / report.seconds;
  return report;
}

async function uploadApp(pool: DecodePool) {
  const store = await openMemBlobStore("mem://");
  return createServerApp({
    store,
    publisher: { publish: () => Promise.resolve() },
    clock: () => new Date(),
    randomSuffix: () => crypto.randomUUID().slice(0, 8),
    healthChecks: [],
    jobs: pool,
  });
}
