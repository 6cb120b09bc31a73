/**
 * The machine's idle CPU, in cores, over the last second, from the kernel's counters in
 * `/proc/stat` (Linux; unknown elsewhere). A standby worker asks it before it joins as a helper
 * (worker_helpers.ts): where the server or other work already keeps the cores busy, a helper's CPU
 * would come out of theirs.
 *
 * @module
 */

/** Cumulative CPU time of the whole machine (in the kernel's ticks). */
interface CpuTimes {
  idle: number;
  total: number;
  at: number;
}

/** The `cpu` line of `/proc/stat` as idle (idle + iowait) and total ticks, or undefined where it cannot be read. */
export function parseProcStat(text: string): { idle: number; total: number } | undefined {
  const fields = /^cpu\s+(.*)$/m.exec(text)?.[1].trim().split(/\s+/).map(Number);
  if (!fields || fields.length < 5 || fields.some((n) => !Number.isFinite(n))) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return { idle: fields[3] + fields[4], total };
}

function readProcStat(): string | undefined {
  try {
    return Deno.readTextFileSync("/proc/stat");
  } catch {
    return undefined; // not Linux, or not readable
  }
}

/** Idle cores over windows of at least {@link IdleCpu.windowMs} (module doc). */
export class IdleCpu {
  /** The shortest span a measurement covers. */
  readonly windowMs: number;
  readonly #read: () => string | undefined;
  readonly #clock: () => number;
  readonly #cores: number;
  #base: CpuTimes | undefined;
  #last: number | undefined;

  /** `read` returns `/proc/stat`'s text; `cores` the machine's logical cores (both injected in tests). */
  constructor(
    read: () => string | undefined = readProcStat,
    clock: () => number = Date.now,
    cores: number = globalThis.navigator?.hardwareConcurrency ?? 1,
    windowMs = 1_000,
  ) {
    this.#read = read;
    this.#clock = clock;
    this.#cores = cores;
    this.windowMs = windowMs;
  }

  /**
   * Idle cores over the latest whole window, updated when called after a window has passed since
   * the last update; undefined until then, or where the counters cannot be read.
   */
  cores(): number | undefined {
    const text = this.#read();
    const times = text === undefined ? undefined : parseProcStat(text);
    if (!times) return this.#last = undefined;
    const now = { ...times, at: this.#clock() };
    if (!this.#base) this.#base = now;
    else if (now.at - this.#base.at >= this.windowMs) {
      const total = now.total - this.#base.total;
      if (total > 0) this.#last = (now.idle - this.#base.idle) / total * this.#cores;
      this.#base = now;
    }
    return this.#last;
  }
}
