/**
 * Where the time goes inside our engine, phase by phase in-process, for the same two cases as the whole-process
 * benchmark, on both merge paths:
 * - fused (what `autopgo merge` runs): read → inflate → `EncodedProfileMerger.add` (decode + merge on the wire
 *   format) → `finish` (encode) → gzip;
 * - object graph: read → inflate → decode → validate → `ProfileMerger.add` → result → encode → gzip.
 * Used to tell the engine engineers what to optimise; numbers are medians of a few repetitions.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { checkValid } from "../core/pprof/validate.ts";
import { decodeUncompressed } from "../core/pprof/decode.ts";
import { DEFAULT_GZIP_LEVEL, encodeUncompressed } from "../core/pprof/encode.ts";
import { EncodedProfileMerger } from "../core/pprof/fast_merge.ts";
import { inflateGzip } from "../core/pprof/inflate.ts";
import { DEFAULT_DECODE_LIMITS } from "../core/pprof/limits.ts";
import { ProfileMerger } from "../core/pprof/merge.ts";
import { median } from "./measure.ts";

/** Milliseconds spent per phase, in pipeline order. */
export type PhaseTimes = Record<string, number>;

/** Runs a merge path once over `paths` (in order); `lap(name)` charges the time since the last lap to `name`. */
type MergePath = (paths: readonly string[], lap: (phase: string) => void) => void;

/** The fused path of `autopgo merge`. */
export const fusedPath: MergePath = (paths, lap) => {
  const merger = new EncodedProfileMerger();
  for (const path of paths) {
    const data = Deno.readFileSync(path);
    lap("read");
    const raw = inflateGzip(data, DEFAULT_DECODE_LIMITS.maxDecompressedBytes);
    lap("inflate");
    merger.add(raw);
    lap("decode+merge");
  }
  const raw = merger.finish({ compress: false });
  lap("encode");
  gzipSync(raw, { level: DEFAULT_GZIP_LEVEL });
  lap("gzip");
};

/** The object-graph path (decode to `Profile`, `ProfileMerger`, `encodeProfile`). */
export const objectPath: MergePath = (paths, lap) => {
  const merger = new ProfileMerger();
  for (const path of paths) {
    const data = Deno.readFileSync(path);
    lap("read");
    const raw = inflateGzip(data, DEFAULT_DECODE_LIMITS.maxDecompressedBytes);
    lap("inflate");
    const profile = decodeUncompressed(raw);
    lap("decode");
    checkValid(profile);
    lap("validate");
    merger.add(profile);
    lap("merge");
  }
  const merged = merger.result();
  lap("result");
  const raw = encodeUncompressed(merged);
  lap("encode");
  gzipSync(raw, { level: DEFAULT_GZIP_LEVEL });
  lap("gzip");
};

/** Runs `path` once over `paths`, timing each phase. */
export function timeMergePath(path: MergePath, paths: readonly string[]): PhaseTimes {
  const times: PhaseTimes = {};
  let mark = performance.now();
  path(paths, (phase) => {
    const now = performance.now();
    times[phase] = (times[phase] ?? 0) + now - mark;
    mark = now;
  });
  return times;
}

/** Median per phase over `repeats` runs (after one warm-up run). */
export function medianPhases(path: MergePath, paths: readonly string[], repeats: number): PhaseTimes {
  timeMergePath(path, paths);
  const runs = Array.from({ length: repeats }, () => timeMergePath(path, paths));
  const out: PhaseTimes = {};
  for (const phase of Object.keys(runs[0])) out[phase] = median(runs.map((r) => r[phase] ?? 0));
  return out;
}

/** Formats phase medians of several cases as a markdown table (ms and share of the case's total). */
export function phasesTable(cases: { name: string; times: PhaseTimes }[]): string {
  const order = ["read", "inflate", "decode+merge", "decode", "validate", "merge", "result", "encode", "gzip"];
  const rank = (phase: string) => order.indexOf(phase) < 0 ? order.length : order.indexOf(phase);
  const phases = [...new Set(cases.flatMap((c) => Object.keys(c.times)))].sort((a, b) => rank(a) - rank(b));
  const header = `| phase | ${cases.map((c) => c.name).join(" | ")} |`;
  const rule = `|---|${cases.map(() => "---:|").join("")}`;
  const totals = cases.map((c) => Object.values(c.times).reduce((sum, ms) => sum + ms, 0));
  const cell = (c: { times: PhaseTimes }, i: number, phase: string) =>
    phase in c.times ? `${c.times[phase].toFixed(1)} ms (${(100 * c.times[phase] / totals[i]).toFixed(0)}%)` : "–";
  const rows = phases.map((phase) => `| ${phase} | ${cases.map((c, i) => cell(c, i, phase)).join(" | ")} |`);
  const total = `| **total** | ${totals.map((ms) => `**${ms.toFixed(1)} ms**`).join(" | ")} |`;
  return [header, rule, ...rows, total].join("\n");
}
