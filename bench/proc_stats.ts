/**
 * Linux `/proc` readings of a running process for the benchmarks: its resident set now (`VmRSS`), its peak
 * (`VmHWM`) and its user + system CPU time; and the whole machine's busy and total CPU time. Each answers NaN
 * when the process is gone or `/proc` is not there.
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

/** The machine's CPU time so far, all cores, in clock ticks: busy (everything but idle and I/O wait) and total. */
export function machineCpu(): { busy: number; total: number } {
  try {
    const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - fields[3] - fields[4], total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** The share of the machine's CPU time (all cores) that was busy between two {@link machineCpu} readings. */
export function busyShare(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  return (after.busy - before.busy) / (after.total - before.total);
}
