/**
 * The hostile-upload scenario of issue 10 (defect 3), shared by tests/hardening_decode_test.ts
 * and the before/after measurement in BENCHMARKS.md: eight concurrent uploads of small crafted
 * profiles to a running server while `/api/health` is probed back to back, with the server's
 * memory read from /proc.
 *
 * @module
 */

import {
  deepStackProfile,
  manyEntitiesProfile,
  manyLabelsProfile,
  paddedGzipBomb,
  wideLocationProfile,
  zeroGzipBomb,
} from "./crafted_profiles.ts";

/** Eight crafted uploads (150–600 KB each), each cheap to send and, without a budget, costly to check. */
export function hostileUploads(): { name: string; data: Uint8Array }[] {
  return [
    { name: "4096-line location", data: wideLocationProfile({ lines: 4_096, samples: 30_000 }) },
    { name: "512-line location x 30k samples", data: wideLocationProfile({ lines: 512, samples: 30_000 }) },
    {
      name: "512-line location, 60 KB name",
      data: wideLocationProfile({ lines: 512, samples: 10_000, nameBytes: 60_000 }),
    },
    { name: "65536-frame stacks", data: deepStackProfile({ depth: 65_536, samples: 9 }) },
    { name: "4096 labels per sample", data: manyLabelsProfile({ labels: 4_096, samples: 25 }) },
    { name: "5000 functions sharing a 30 KB name", data: manyEntitiesProfile({ count: 5_000, nameBytes: 30_000 }) },
    { name: "gzip bomb of a padded profile", data: paddedGzipBomb(512) },
    { name: "gzip bomb of zeros", data: zeroGzipBomb(512) },
  ];
}

/** What one upload got. */
export interface UploadResult {
  name: string;
  bytes: number;
  status: number;
  ms: number;
  message: string;
}

/** Results of {@link hostileRun}. */
export interface HostileRunResult {
  uploads: UploadResult[];
  /** Latency of every health probe sent while the uploads were in flight, in ms (a failed probe counts as Infinity). */
  probes: number[];
  /** Peak resident memory of the server process (VmHWM), MiB; undefined without /proc. */
  peakRssMiB?: number;
}

/** A memory figure of `pid` from /proc (`VmHWM`, `VmRSS`, …) in MiB, if /proc is readable. */
function procStatusMiB(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set (VmHWM) of `pid` in MiB, if /proc is readable. */
export function peakRssMiB(pid: number): number | undefined {
  return procStatusMiB(pid, "VmHWM");
}

/** Resident set now (VmRSS) of `pid` in MiB; NaN without /proc. */
export function rssMiB(pid: number): number {
  return procStatusMiB(pid, "VmRSS") ?? NaN;
}

/** Median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Sends every upload of `uploads` at once to `url` (app `hostile-<i>`) and probes `/api/health`
 * back to back (`gapMs` apart) until all are answered or `limitMs` passes.
 */
export async function hostileRun(
  url: string,
  pid: number,
  uploads = hostileUploads(),
  opts: { limitMs?: number; gapMs?: number } = {},
): Promise<HostileRunResult> {
  const limitMs = opts.limitMs ?? 60_000;
  let pending = uploads.length;
  const results = Promise.all(uploads.map(async ({ name, data }, i): Promise<UploadResult> => {
    const started = performance.now();
    try {
      const response = await fetch(`${url}/api/profile/hostile-${i}`, {
        method: "POST",
        body: data as BodyInit,
        signal: AbortSignal.timeout(limitMs),
      });
      const body = await response.text();
      let message = body;
      try {
        message = JSON.parse(body).message ?? body;
      } catch { /* not JSON */ }
      return { name, bytes: data.length, status: response.status, ms: performance.now() - started, message };
    } catch (error) {
      return { name, bytes: data.length, status: 0, ms: performance.now() - started, message: String(error) };
    } finally {
      pending--;
    }
  }));
  const probes: number[] = [];
  while (pending > 0) {
    const started = performance.now();
    try {
      const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(limitMs) });
      await response.body?.cancel();
      probes.push(response.ok ? performance.now() - started : Infinity);
    } catch {
      probes.push(Infinity);
    }
    await new Promise((resolve) => setTimeout(resolve, opts.gapMs ?? 20));
  }
  return { uploads: await results, probes, peakRssMiB: peakRssMiB(pid) };
}
