/**
 * The arithmetic of `deno task simulate` (bench/simulate.ts): the table of measured steps, and the
 * extrapolation from them. Worker CPU is fitted as `a·uploads + b·batches` over every measured step
 * (least squares, no intercept): `a` is what each upload costs (decode, check, prune, compact,
 * merge into the batch, clean-up, its events), `b` what each batch write costs on top (base read,
 * decode, encode, gzip, compare-and-swap write, lease). The figures for one worker, many machines
 * and 10,000 services follow from `a`, `b`, the server's CPU per upload and the measured store and
 * bus operations per upload; SCALING.md says where this stops holding.
 *
 * @module
 */

/** One measured step of the simulation. */
export interface StepResult {
  workers: number;
  apps: number;
  /** Offered uploads/s. */
  offered: number;
  /** Seconds over which the uploads were sent. */
  seconds: number;
  accepted: number;
  /** Uploads the server did not answer 201 (errors, refusals). */
  refused: number;
  merged: number;
  /** Merged uploads over the time from the step's start to its last merge. */
  mergedPerSecond: number;
  /** Upload start → merged, ms. */
  p50: number;
  p99: number;
  /** Accepted uploads still staged when the step's sending ended. */
  backlogAtEnd: number;
  /** Accepted uploads not merged by the end of the watch. */
  unmerged: number;
  serverCpuS: number;
  /** All worker processes together. */
  workerCpuS: number;
  /** Batch writes of the simulated apps. */
  batches: number;
  /** Store (`blob <op>`) and bus (`bus <op>`) operations of every process during the step. */
  operations: Record<string, number>;
}

const f1 = (v: number) => v.toFixed(1);
const ms = (v: number) => Number.isNaN(v) ? "–" : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`;

/** Operations per merged upload, as `name n, …` for names starting with `kind` (`blob` or `bus`). */
function perUpload(r: StepResult, kind: string): string {
  return Object.entries(r.operations)
    .filter(([k, v]) => k.startsWith(kind) && v > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k.slice(kind.length + 1)} ${(v / Math.max(1, r.merged)).toFixed(1)}`)
    .join(", ");
}

/** The measured steps as a markdown table. */
export function stepsTable(steps: StepResult[], keptUp: (r: StepResult) => boolean): string {
  return [
    "| workers | offered uploads/s | accepted/s | merged/s | upload→merged p50 / p99 | staged when sending ended | kept up | CPU ms per upload: server / workers | uploads per batch write | store operations per upload | bus operations per upload |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...steps.map((r) =>
      `| ${r.workers} | ${r.offered} | ${f1(r.accepted / r.seconds)} | ${f1(r.mergedPerSecond)} | ${ms(r.p50)} / ${
        ms(r.p99)
      } | ${r.backlogAtEnd} | ${keptUp(r) ? "yes" : "**no**"} | ${f1((r.serverCpuS * 1000) / r.accepted)} / ${
        f1((r.workerCpuS * 1000) / Math.max(1, r.merged))
      } | ${f1(r.merged / Math.max(1, r.batches))} | ${perUpload(r, "blob")} | ${perUpload(r, "bus")} |`
    ),
  ].join("\n");
}

/** Least squares of `y ≈ a·x1 + b·x2` (no intercept); undefined when degenerate or not positive. */
export function fitTwo(points: { x1: number; x2: number; y: number }[]): { a: number; b: number } | undefined {
  let s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0;
  for (const { x1, x2, y } of points) {
    s11 += x1 * x1, s12 += x1 * x2, s22 += x2 * x2, s1y += x1 * y, s2y += x2 * y;
  }
  const det = s11 * s22 - s12 * s12;
  if (Math.abs(det) < 1e-9 * s11 * s22) return undefined;
  const a = (s1y * s22 - s2y * s12) / det, b = (s2y * s11 - s1y * s12) / det;
  return a > 0 && b >= 0 ? { a, b } : undefined;
}

/** What the extrapolation is for. */
export interface Target {
  /** Services scraped every period, one profile each. */
  services: number;
  periodS: number;
  /** Mean size of the simulated uploads, KiB. */
  kib: number;
}

/** The extrapolation from the measured steps, as markdown. */
export function extrapolate(steps: StepResult[], keptUp: (r: StepResult) => boolean, target: Target): string {
  // Costs are fitted over every step whose uploads were all merged (a step the workers fell behind
  // on still says what each upload and batch cost); the ceiling only counts steps kept up with.
  const good = steps.filter((r) => r.unmerged === 0 && r.merged > 0);
  if (good.length === 0) return "No step merged all its uploads: nothing to extrapolate from.";
  const fit = fitTwo(good.map((r) => ({ x1: r.merged, x2: r.batches, y: r.workerCpuS * 1000 })));
  const best = good.reduce((m, r) => (r.mergedPerSecond > m.mergedPerSecond ? r : m));
  const perUploadMs = (best.workerCpuS * 1000) / best.merged;
  const a = fit?.a ?? perUploadMs, b = fit?.b ?? 0;
  const server = good.reduce((s, r) => s + r.serverCpuS * 1000, 0) / good.reduce((s, r) => s + r.accepted, 0);
  const capacity = (uploadsPerBatch: number) => 1000 / (a + b / uploadsPerBatch);
  const rate = target.services / target.periodS;
  const cores = (uploadsPerBatch: number) => (rate * (a + b / uploadsPerBatch)) / 1000;
  const byWorkers = new Map<number, number>();
  for (const r of steps.filter(keptUp)) byWorkers.set(r.workers, Math.max(byWorkers.get(r.workers) ?? 0, r.offered));
  const ops = (kind: string) =>
    Object.entries(best.operations).filter(([k]) => k.startsWith(kind)).reduce((s, [, v]) => s + v, 0) / best.merged;
  const lines = [
    `**Measured ceiling on this machine** (highest step kept up with, all processes sharing its cores): ${
      byWorkers.size
        ? [...byWorkers].map(([w, r]) => `${w} worker${w > 1 ? "s" : ""}: ≥ ${r} uploads/s`).join("; ")
        : "none"
    }.`,
    "",
    fit
      ? `**Fitted worker cost** over ${good.length} steps whose uploads were all merged: a = ${
        a.toFixed(2)
      } ms CPU per upload, b = ${b.toFixed(1)} ms CPU per batch write (worker CPU ≈ a·uploads + b·batches).`
      : `**Worker cost**: the fit a·uploads + b·batches was degenerate; using ${
        perUploadMs.toFixed(2)
      } ms CPU per upload measured at the best step (batches included).`,
    "",
    `**Server cost**: ${server.toFixed(2)} ms CPU per accepted upload (checking, staging, publishing).`,
    "",
    "| what | uploads per batch write 1 (every upload alone) | 8 | 64 (the batch bound) |",
    "|---|---|---|---|",
    `| one worker process on one core, uploads/s | ${capacity(1).toFixed(0)} | ${capacity(8).toFixed(0)} | ${
      capacity(64).toFixed(0)
    } |`,
    `| apps one worker sustains at 1 upload per app per minute | ${(capacity(1) * 60).toFixed(0)} | – | – |`,
    `| apps one worker sustains at 10 uploads per app per minute, arriving together | – | – | ${
      ((1000 / (10 * a + b)) * 60).toFixed(0)
    } |`,
    `| worker cores for ${target.services.toLocaleString("en")} services every ${target.periodS} s (${
      rate.toFixed(0)
    } uploads/s) | ${cores(1).toFixed(2)} | ${cores(8).toFixed(2)} | ${cores(64).toFixed(2)} |`,
    "",
    `At ${target.services.toLocaleString("en")} services every ${target.periodS} s: ${rate.toFixed(0)} uploads/s of ${
      target.kib.toFixed(1)
    } KiB here (${((rate * target.kib) / 1024).toFixed(2)} MiB/s staged); ` +
    `server CPU ${((rate * server) / 1000).toFixed(2)} cores; the store sees ${
      (rate * ops("blob")).toFixed(0)
    } operations/s and the bus ${(rate * ops("bus")).toFixed(0)} operations/s at the per-upload counts of the ` +
    `best step (${best.offered} uploads/s, ${(best.merged / Math.max(1, best.batches)).toFixed(1)} uploads per batch).`,
  ];
  return lines.join("\n");
}
