/**
 * Where the time goes inside our engine: the CLI's merge path (read → inflate → decode → validate → merge → encode →
 * gzip) timed phase by phase in-process, for the same two cases as the whole-process benchmark. Used to tell the
 * engine engineers what to optimise; numbers are medians of a few repetitions.
 *
 * @module
 */

import { checkValid } from "../core/pprof/validate.ts";
import { decodeUncompressed } from "../core/pprof/decode.ts";
import { encodeUncompressed } from "../core/pprof/encode.ts";
import { inflateGzip } from "../core/pprof/inflate.ts";
import { DEFAULT_DECODE_LIMITS } from "../core/pprof/limits.ts";
import { ProfileMerger } from "../core/pprof/merge.ts";
import { gzipSync } from "node:zlib";
import { median } from "./measure.ts";

/** Phase names, in pipeline order. */
export const PHASES = ["read", "inflate", "decode", "validate", "merge", "result", "encode", "gzip"] as const;

/** Milliseconds spent per phase. */
export type PhaseTimes = Record<(typeof PHASES)[number], number>;

function zeroTimes(): PhaseTimes {
  return { read: 0, inflate: 0, decode: 0, validate: 0, merge: 0, result: 0, encode: 0, gzip: 0 };
}

/** Runs the merge path once over `paths` (in order), timing each phase. */
export function timeMergePath(paths: readonly string[]): PhaseTimes {
  const t = zeroTimes();
  const merger = new ProfileMerger();
  let mark = performance.now();
  const lap = (phase: keyof PhaseTimes) => {
    const now = performance.now();
    t[phase] += now - mark;
    mark = now;
  };
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
  gzipSync(raw, { level: 6 });
  lap("gzip");
  return t;
}

/** Median per phase over `repeats` runs (after one warm-up run). */
export function medianPhases(paths: readonly string[], repeats: number): PhaseTimes {
  timeMergePath(paths);
  const runs = Array.from({ length: repeats }, () => timeMergePath(paths));
  const out = zeroTimes();
  for (const phase of PHASES) out[phase] = median(runs.map((r) => r[phase]));
  return out;
}

/** Formats phase medians of several cases as a markdown table (ms and share of the case's total). */
export function phasesTable(cases: { name: string; times: PhaseTimes }[]): string {
  const header = `| phase | ${cases.map((c) => c.name).join(" | ")} |`;
  const rule = `|---|${cases.map(() => "---:|").join("")}`;
  const totals = cases.map((c) => PHASES.reduce((sum, p) => sum + c.times[p], 0));
  const rows = PHASES.map((phase) =>
    `| ${phase} | ${
      cases.map((c, i) => `${c.times[phase].toFixed(1)} ms (${(100 * c.times[phase] / totals[i]).toFixed(0)}%)`)
        .join(" | ")
    } |`
  );
  const total = `| **total** | ${totals.map((ms) => `**${ms.toFixed(1)} ms**`).join(" | ")} |`;
  return [header, rule, ...rows, total].join("\n");
}
