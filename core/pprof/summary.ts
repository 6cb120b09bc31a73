/**
 * A human-sized description of a profile, as shown by `autopgo inspect`: header fields,
 * table sizes, per-type totals, the top functions (flat and cumulative) and the PGO verdict.
 *
 * @module
 */

import { DEFAULT_PGO_FRAMES } from "./edges.ts";
import { type NoInlineReport, noInlineReport } from "./noinline.ts";
import { checkPgo, type PgoVerdict } from "./pgo.ts";
import type { Profile } from "./profile.ts";
import { unitsOf } from "./merge_labels.ts";

/** Options of {@link summarizeProfile}. */
export interface SummaryOptions {
  /** How many functions to list (default 10). */
  top?: number;
  /** Sample type index the top lists rank by (default: default_sample_type, else the last type, like pprof). */
  sampleIndex?: number;
}

/** One row of a top list. */
export interface FunctionStat {
  name: string;
  /** Value where the function is the leaf (innermost frame). */
  flat: number;
  /** Value of samples in which the function appears (once per sample). */
  cum: number;
}

/** Total of one sample type over all samples. */
export interface SampleTypeTotal {
  type: string;
  unit: string;
  total: number;
}

/** JSON-safe summary of a profile. */
export interface ProfileSummary {
  sampleTypes: string[];
  defaultSampleType: string;
  periodType: string;
  period: number;
  durationNanos: number;
  /** Profile start as ISO-8601, "" when unset. */
  time: string;
  timeNanos: string;
  counts: { samples: number; locations: number; functions: number; mappings: number; strings: number };
  totals: SampleTypeTotal[];
  /** Sample type the top lists are ranked by ("" when the profile has no sample types). */
  rankedBy: string;
  /**
   * What percentages of `rankedBy` are of, as go tool pprof computes it: the sum of absolute
   * values, over the diff base's samples only when the profile is a diff (`pprof::base` label).
   */
  rankedTotal: number;
  topFlat: FunctionStat[];
  topCum: FunctionStat[];
  pgo: PgoVerdict;
  /** Most locations in one sample's stack. */
  maxStackDepth: number;
  /**
   * True when the profile has the shape PGO compaction leaves (compact_pgo.ts): samples, no
   * mappings, and stacks of at most the leaf and its caller. Cumulative values then cover only
   * those frames, not the whole call stack.
   */
  compacted: boolean;
  /** No-inline guards the profile records and the functions they renamed (noinline.ts). */
  noInline: NoInlineReport;
}

/** Number of distinct strings the encoded profile's string table holds (including ""). */
function countStrings(p: Profile): number {
  const strings = new Set<string>([""]);
  const add = (s: string) => strings.add(s);
  for (const t of p.sampleType) add(t.type), add(t.unit);
  for (const s of p.sample) {
    for (const [k, vs] of Object.entries(s.label ?? {})) add(k), vs.forEach(add);
    for (const k of Object.keys(s.numLabel ?? {})) add(k), (unitsOf(s, k) ?? []).forEach(add);
  }
  for (const m of p.mapping) add(m.file), add(m.buildId);
  for (const f of p.function) add(f.name), add(f.systemName), add(f.filename);
  add(p.dropFrames), add(p.keepFrames), add(p.periodType.type), add(p.periodType.unit);
  p.comments.forEach(add), add(p.defaultSampleType), add(p.docUrl);
  return strings.size;
}

function defaultIndex(p: Profile): number {
  const byDefault = p.sampleType.findIndex((t) => t.type === p.defaultSampleType);
  return p.defaultSampleType !== "" && byDefault >= 0 ? byDefault : p.sampleType.length - 1;
}

function nsToIso(ns: bigint): string {
  if (ns === 0n) return "";
  const ms = Number(ns / 1_000_000n);
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

/** Computes the {@link ProfileSummary} of `p`; top lists are ordered like pprof's (|value| desc, then name). */
export function summarizeProfile(p: Profile, opts: SummaryOptions = {}): ProfileSummary {
  const top = opts.top ?? 10;
  const index = opts.sampleIndex ?? defaultIndex(p);
  const totals = p.sampleType.map((t) => ({ type: t.type, unit: t.unit, total: 0 }));
  const stats = new Map<string, FunctionStat>();
  const stat = (name: string) => {
    let s = stats.get(name);
    if (!s) stats.set(name, s = { name, flat: 0, cum: 0 });
    return s;
  };
  let maxStackDepth = 0;
  for (const s of p.sample) {
    maxStackDepth = Math.max(maxStackDepth, s.location.length);
    for (let i = 0; i < totals.length; i++) totals[i].total += s.value[i] ?? 0;
    const v = index >= 0 ? s.value[index] ?? 0 : 0;
    if (v === 0) continue;
    const seen = new Set<string>();
    for (const loc of s.location) {
      for (const ln of loc.line) {
        const name = ln.function?.name || "<unknown>";
        if (!seen.has(name)) {
          seen.add(name);
          stat(name).cum += v;
        }
      }
      if (loc.line.length === 0) {
        const name = `0x${loc.address.toString(16)}`;
        if (!seen.has(name)) seen.add(name), stat(name).cum += v;
      }
    }
    const leaf = s.location[0];
    if (leaf) {
      const ln = leaf.line[0];
      stat(ln ? ln.function?.name || "<unknown>" : `0x${leaf.address.toString(16)}`).flat += v;
    }
  }
  const rows = [...stats.values()];
  const byFlat = rows.filter((r) => r.flat !== 0)
    .sort((a, b) => Math.abs(b.flat) - Math.abs(a.flat) || cmp(a.name, b.name) || Math.abs(b.cum) - Math.abs(a.cum));
  const byCum = rows.slice()
    .sort((a, b) => Math.abs(b.cum) - Math.abs(a.cum) || cmp(a.name, b.name) || Math.abs(b.flat) - Math.abs(a.flat));
  const ranked = p.sampleType[index];
  return {
    rankedTotal: index >= 0 ? pprofTotal(p, index) : 0,
    sampleTypes: p.sampleType.map((t) => `${t.type}/${t.unit}`),
    defaultSampleType: p.defaultSampleType,
    periodType: p.periodType.type || p.periodType.unit ? `${p.periodType.type}/${p.periodType.unit}` : "",
    period: p.period,
    durationNanos: Number(p.durationNanos),
    time: nsToIso(p.timeNanos),
    timeNanos: p.timeNanos.toString(),
    counts: {
      samples: p.sample.length,
      locations: p.location.length,
      functions: p.function.length,
      mappings: p.mapping.length,
      strings: countStrings(p),
    },
    totals,
    rankedBy: ranked ? `${ranked.type}/${ranked.unit}` : "",
    topFlat: byFlat.slice(0, top),
    topCum: byCum.slice(0, top),
    pgo: checkPgo(p),
    maxStackDepth,
    compacted: p.sample.length > 0 && p.mapping.length === 0 && maxStackDepth <= DEFAULT_PGO_FRAMES,
    noInline: noInlineReport(p),
  };
}

/** Label google/pprof's `-diff_base` puts on the base's samples (negated) in a diff profile. */
const DIFF_BASE_LABEL = "pprof::base";

/** go tool pprof's total of column `index`: absolute values, the diff base's samples only in a diff. */
function pprofTotal(p: Profile, index: number): number {
  const isBase = (s: Profile["sample"][number]) => s.label?.[DIFF_BASE_LABEL] !== undefined;
  const diff = p.sample.some(isBase);
  let total = 0;
  for (const s of p.sample) if (!diff || isBase(s)) total += Math.abs(s.value[index] ?? 0);
  return total;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
