/**
 * Linux `/proc` readings of a running process for the benchmarks: its resident set now (`VmRSS`), its peak
 * (`VmHWM`) and its user + system CPU time. Each answers NaN when the process is gone or `/proc` is not there.
 *
 * @module
 */

function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Resident set size of `pid` now, MiB. */
export function rssMiB(pid: number): number {
  return statusKiB(pid, "VmRSS") / 1024;
}

/** Peak resident set size of `pid` so far (`VmHWM`), MiB. */
export function peakRssMiB(pid: number): number {
  return statusKiB(pid, "VmHWM") / 1024;
}

/** User + system CPU seconds of `pid` so far (Linux clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).replace(/^.*\) /, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}
