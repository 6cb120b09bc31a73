/**
 * What a merged profile says about the retention windows it covers (issue 14), for `inspect`,
 * `explain`, `list --json` and `GET /api/apps`: read from the bookkeeping comments a rebuild
 * writes into `default.pgo` (base_state.ts), so no other object is read.
 *
 * @module
 */

import { type BaseState, readBaseState } from "./base_state.ts";

/** The window range of a profile rebuilt from retention windows, times as ISO-8601 UTC. */
export interface WindowRange {
  /** Start of the oldest window merged. */
  from: string;
  /** End of the newest window merged (its start plus the window length). */
  to: string;
  /** Windows merged. */
  count: number;
  /** Window length in seconds. */
  windowSeconds: number;
  /** Staging time of the oldest and newest upload merged (null when not recorded). */
  oldestSample: string | null;
  newestSample: string | null;
  /** The worker's retention and half-life in seconds (null: keep everything / no decay). */
  retentionSeconds: number | null;
  halfLifeSeconds: number | null;
  /** The integer factor of the heaviest window (1 without decay; core/pprof/decay.ts). */
  decayScale: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const nanosIso = (nanos: bigint | undefined) => nanos === undefined ? null : iso(Number(nanos / 1_000_000n));

/** The window range recorded in `state`, or undefined for a profile not built from windows. */
export function windowRangeOf(state: BaseState): WindowRange | undefined {
  const c = state.coverage;
  if (!c) return undefined;
  return {
    from: iso(c.first * 1000),
    to: iso((c.last + c.windowSeconds) * 1000),
    count: c.count,
    windowSeconds: c.windowSeconds,
    oldestSample: nanosIso(state.samplesFrom),
    newestSample: nanosIso(state.samplesTo),
    retentionSeconds: c.retentionSeconds ?? null,
    halfLifeSeconds: c.halfLifeSeconds ?? null,
    decayScale: c.decayScale ?? 1,
  };
}

/** {@link windowRangeOf} of a profile's comments. */
export function windowRangeOfComments(comments: readonly string[]): WindowRange | undefined {
  return windowRangeOf(readBaseState(comments));
}

/** `3600` → `1h`, `604800` → `7d`: the largest unit that divides the seconds. */
export function formatSeconds(seconds: number): string {
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/**
 * Human lines about the windows: which windows, the sample times and the weighting, e.g.
 * `7 windows of 1h, 2026-01-03T00:00:00Z .. 2026-01-10T00:00:00Z (retention 7d, half-life 2d, ×4000 scale)`.
 */
export function describeWindowRange(r: WindowRange): { windows: string; samples: string } {
  const short = (s: string) => s.replace(/\.000Z$/, "Z");
  const weighting = [
    `retention ${r.retentionSeconds === null ? "all" : formatSeconds(r.retentionSeconds)}`,
    r.halfLifeSeconds === null ? "no decay" : `half-life ${formatSeconds(r.halfLifeSeconds)}`,
  ];
  if (r.decayScale !== 1) weighting.push(`values scaled up to ×${r.decayScale}`);
  const plural = r.count === 1 ? "window" : "windows";
  return {
    windows: `${r.count} ${plural} of ${formatSeconds(r.windowSeconds)}, ${short(r.from)} .. ${short(r.to)} ` +
      `(${weighting.join(", ")})`,
    samples: r.oldestSample === null || r.newestSample === null
      ? "-"
      : `oldest ${short(r.oldestSample)}, newest ${short(r.newestSample)}`,
  };
}
