/**
 * Whole-process measurements for the benchmark: wall time (measured around the spawn) and peak RSS (GNU time's
 * `%M`), runs of two sides alternated A B A B … so machine noise hits both alike, and medians / per-pair ratios.
 *
 * @module
 */

/** Where GNU time lives (Debian/Ubuntu package `time`). */
export const GNU_TIME = "/usr/bin/time";

/** One measured process run. */
export interface Measurement {
  /** Wall-clock milliseconds from spawn to exit. */
  wallMs: number;
  /** Peak resident set size in KiB, as GNU time reports it. */
  peakRssKiB: number;
  /** User + system CPU milliseconds (GNU time's `%U + %S`, 10 ms resolution): less sensitive to a busy machine. */
  cpuMs: number;
}

/** A command to measure. */
export interface Side {
  /** Short name used in reports. */
  name: string;
  /** argv[0]. */
  command: string;
  /** Arguments. */
  args: string[];
  /** Environment variables added to the inherited ones. */
  env?: Record<string, string>;
}

/** Throws a one-line hint when GNU time is missing. */
export function requireGnuTime(): void {
  try {
    Deno.statSync(GNU_TIME);
  } catch {
    throw new Error(`${GNU_TIME} not found: install GNU time (e.g. "apt-get install -y time")`);
  }
}

/** Runs `side` once under GNU time; throws with the end of stderr when it fails. */
export async function measureOnce(side: Side, scratchDir: string): Promise<Measurement> {
  const timeFile = `${scratchDir}/time-${crypto.randomUUID()}.txt`;
  const started = performance.now();
  const out = await new Deno.Command(GNU_TIME, {
    args: ["-f", "%U %S %M", "-o", timeFile, side.command, ...side.args],
    env: side.env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - started;
  if (!out.success) {
    const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${side.name} failed (exit ${out.code}): ${tail}`);
  }
  const fields = (await Deno.readTextFile(timeFile)).trim().split(/\s+/);
  await Deno.remove(timeFile);
  // The format's line is the last one (GNU time prints "Command exited with non-zero status" lines before it).
  const [user, system, rss] = fields.slice(-3).map(Number);
  if (![user, system, rss].every(Number.isFinite)) {
    throw new Error(`${side.name}: cannot read GNU time output ${fields.join(" ")}`);
  }
  return { wallMs, peakRssKiB: rss, cpuMs: (user + system) * 1000 };
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Results of {@link compareSides}. */
export interface Comparison {
  /** Runs of side A (the baseline). */
  a: Measurement[];
  /** Runs of side B. */
  b: Measurement[];
  /** B/A wall-time ratio of each pair. */
  wallRatios: number[];
  /** B/A peak-RSS ratio of each pair. */
  rssRatios: number[];
  /** B/A CPU-time ratio of each pair. */
  cpuRatios: number[];
}

/**
 * Measures `a` and `b` alternately: `warmups` unrecorded pairs, then `runs` recorded pairs (A then B, swapped on odd
 * pairs so neither side always runs second). `onRun` reports each recorded run.
 */
export async function compareSides(
  a: Side,
  b: Side,
  options: { runs: number; warmups: number; scratchDir: string; onRun?: (side: Side, m: Measurement) => void },
): Promise<Comparison> {
  const result: Comparison = { a: [], b: [], wallRatios: [], rssRatios: [], cpuRatios: [] };
  for (let i = 0; i < options.warmups; i++) {
    await measureOnce(a, options.scratchDir);
    await measureOnce(b, options.scratchDir);
  }
  for (let i = 0; i < options.runs; i++) {
    const order = i % 2 === 0 ? [a, b] : [b, a];
    const pair = new Map<Side, Measurement>();
    for (const side of order) {
      const m = await measureOnce(side, options.scratchDir);
      pair.set(side, m);
      options.onRun?.(side, m);
    }
    const ma = pair.get(a)!, mb = pair.get(b)!;
    result.a.push(ma);
    result.b.push(mb);
    result.wallRatios.push(mb.wallMs / ma.wallMs);
    result.rssRatios.push(mb.peakRssKiB / ma.peakRssKiB);
    result.cpuRatios.push(mb.cpuMs / ma.cpuMs);
  }
  return result;
}
