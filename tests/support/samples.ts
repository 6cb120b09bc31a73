/**
 * Test support: order-independent views of profiles for comparisons with readable diffs.
 *
 * - {@link canonicalSamples}: each sample → a readable key of its stack (per location:
 *   address relative to its mapping start, mapping build id or file, and every line's
 *   function name, file, start line, line and column) + sorted string labels + sorted numeric
 *   labels with units → summed values. Ids, table order and sample order do not matter.
 * - {@link assertSameSamples}: asserts two profiles hold the same samples.
 * - {@link profileStructure} / {@link assertSameProfile}: full structural comparison (header
 *   fields and entity tables with ids), for checking against pprof's own merge output.
 *
 * @module
 */

import { AssertionError } from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import type { Location, Profile, Sample } from "../../core/pprof/profile.ts";

/** Options of {@link canonicalSamples}. */
export interface CanonicalOptions {
  /** Drop entries whose summed values are all zero (default false). */
  dropZero?: boolean;
}

function frameKey(loc: Location): string {
  const m = loc.mapping;
  const addr = m ? loc.address - m.memoryStart : loc.address;
  const where = m ? `${m.buildId || m.file || "?"}+0x${addr.toString(16)}` : `0x${addr.toString(16)}`;
  const lines = loc.line.map((ln) => {
    const f = ln.function;
    return f ? `${f.name} ${f.filename}:${ln.line}:${ln.column} s${f.startLine}` : `? :${ln.line}:${ln.column}`;
  });
  return `${lines.join(" > ")} @${where}${loc.isFolded ? " folded" : ""}`;
}

function labelsKey(s: Sample): string {
  const parts: string[] = [];
  for (const k of Object.keys(s.label ?? {}).sort()) parts.push(`${k}=${JSON.stringify(s.label![k])}`);
  for (const k of Object.keys(s.numLabel ?? {}).sort()) {
    parts.push(`${k}#${JSON.stringify(s.numLabel![k])}${JSON.stringify(s.numUnit?.[k] ?? [])}`);
  }
  return parts.join(" ");
}

/** The readable identity of one sample (stack leaf first, then labels). */
export function sampleKey(s: Sample): string {
  const labels = labelsKey(s);
  return s.location.map(frameKey).join(" ; ") + (labels ? ` | ${labels}` : "");
}

/** Canonical key → summed values of every sample of `p`. */
export function canonicalSamples(p: Profile, opts: CanonicalOptions = {}): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of p.sample) {
    const key = sampleKey(s);
    const sum = out.get(key);
    if (sum) s.value.forEach((v, i) => sum[i] += v);
    else out.set(key, s.value.slice());
  }
  if (opts.dropZero) { for (const [k, v] of out) if (v.every((x) => x === 0)) out.delete(k); }
  return out;
}

/** Differences between two canonical sample maps, as readable lines (empty when equal). */
export function diffSamples(actual: Map<string, number[]>, expected: Map<string, number[]>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (!a) diffs.push(`missing  ${JSON.stringify(v)}  ${k}`);
    else if (!isDeepStrictEqual(a, v)) {
      diffs.push(`values   ${JSON.stringify(a)} != expected ${JSON.stringify(v)}  ${k}`);
    }
  }
  for (const [k, v] of actual) if (!expected.has(k)) diffs.push(`extra    ${JSON.stringify(v)}  ${k}`);
  return diffs;
}

/**
 * Asserts that `actual` and `expected` hold the same samples (same stacks, labels and summed
 * values), regardless of ids and order. The failure message lists up to 20 differences.
 */
export function assertSameSamples(
  actual: Profile,
  expected: Profile,
  message = "samples differ",
  opts: CanonicalOptions = {},
): void {
  const a = canonicalSamples(actual, opts);
  const e = canonicalSamples(expected, opts);
  const diffs = diffSamples(a, e);
  if (diffs.length === 0) return;
  const shown = diffs.slice(0, 20).join("\n  ");
  throw new AssertionError({
    message: `${message}: ${diffs.length} difference(s) (actual ${a.size} keys, expected ${e.size} keys)\n  ${shown}`,
  });
}

/** A plain, JSON-comparable view of the whole profile: header fields and entity tables (ids included). */
export function profileStructure(p: Profile): Record<string, unknown> {
  return {
    sampleType: p.sampleType.map((t) => `${t.type}/${t.unit}`),
    defaultSampleType: p.defaultSampleType,
    periodType: `${p.periodType.type}/${p.periodType.unit}`,
    period: p.period,
    timeNanos: p.timeNanos.toString(),
    durationNanos: p.durationNanos.toString(),
    dropFrames: p.dropFrames,
    keepFrames: p.keepFrames,
    comments: p.comments,
    docUrl: p.docUrl,
    mapping: p.mapping.map((m) => ({
      ...m,
      memoryStart: `${m.memoryStart}`,
      memoryLimit: `${m.memoryLimit}`,
      fileOffset: `${m.fileOffset}`,
    })),
    function: p.function.map((f) => ({ ...f })),
    location: p.location.map((l) => ({
      id: l.id,
      mapping: l.mapping?.id ?? 0,
      address: l.address.toString(16),
      isFolded: l.isFolded,
      line: l.line.map((ln) => `${ln.function?.id ?? 0}:${ln.line}:${ln.column}`),
    })),
    sample: p.sample.map((s) => ({
      location: s.location.map((l) => l.id),
      value: s.value,
      labels: labelsKey(s),
    })),
  };
}

/**
 * Asserts that two profiles are structurally identical: same header fields, same mapping,
 * function and location tables (ids and order), same samples in the same order. Reports the
 * first differing part.
 */
export function assertSameProfile(actual: Profile, expected: Profile, message = "profiles differ"): void {
  const a = profileStructure(actual);
  const e = profileStructure(expected);
  for (const key of Object.keys(e)) {
    if (isDeepStrictEqual(a[key], e[key])) continue;
    const av = a[key], ev = e[key];
    let detail = `${JSON.stringify(av)?.slice(0, 300)} != ${JSON.stringify(ev)?.slice(0, 300)}`;
    if (Array.isArray(av) && Array.isArray(ev)) {
      const i = av.findIndex((x, j) => !isDeepStrictEqual(x, ev[j]));
      const at = i < 0 ? Math.min(av.length, ev.length) : i;
      detail = `lengths ${av.length} vs ${ev.length}; first difference at [${at}]: ${JSON.stringify(av[at])} != ${
        JSON.stringify(ev[at])
      }`;
    }
    throw new AssertionError({ message: `${message}: ${key}: ${detail}` });
  }
}

/** The sum of the first sample value (for a CPU profile, the sample count) over all samples. */
export function totalSamples(profile: { sample: { value: (number | bigint)[] }[] }): number {
  return profile.sample.reduce((sum, sample) => sum + Number(sample.value[0]), 0);
}
