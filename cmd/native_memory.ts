/**
 * Gives the C heap's free pages back to the system after a burst. Deno's allocations outside the
 * JavaScript heap (connection and stream buffers, ArrayBuffer backing stores) come from glibc's
 * malloc, which returns freed memory to the system only from the top of its heap: after 1,100
 * slow clients came and went, the server's V8 heap was back to 27 MiB and its external memory to
 * 2 MiB, yet it kept 257 MiB of anonymous memory, 205 MiB of it in the `[heap]` segment, for good
 * (a systemd `MemoryMax` counts it). glibc's `malloc_trim(0)` hands back every free page of every
 * arena, which the process would otherwise keep until it reused them.
 *
 * So a component calls it, through Deno's FFI, every {@link TRIM_EVERY_MS} while its resident memory
 * stands {@link TRIM_GROWTH_BYTES} or more above the lowest it has been. Where that cannot work it does
 * nothing: not Linux, no glibc (musl has no `malloc_trim`), or no FFI permission (`--allow-ffi`;
 * compile.sh and `deno task start` grant it).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["autopgo", "memory"]);

/** How often resident memory is looked at. */
export const TRIM_EVERY_MS = 10_000;

/** How far resident memory must stand above the lowest it has been for a look to trim. */
export const TRIM_GROWTH_BYTES = 32 * 1024 * 1024;

/** Hands free C-heap pages back; returns whether any were. */
export type Trim = () => boolean;

/** glibc's `malloc_trim`, or undefined where it cannot be called (module doc). */
export function glibcTrim(): Trim | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
    const libc = Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32" } });
    return () => libc.symbols.malloc_trim(0n) === 1;
  } catch {
    return undefined; // no glibc (musl, a distroless image without it)
  }
}

/** What {@link NativeMemoryRelease} needs: injected in tests. */
export interface NativeMemoryOptions {
  /** Resident memory in bytes now. */
  rss?: () => number;
  /** The trim; undefined: {@link glibcTrim}. */
  trim?: Trim;
  /** The growth that makes a look trim; default {@link TRIM_GROWTH_BYTES}. */
  growthBytes?: number;
}

/** Trims the C heap while resident memory stands well above the lowest it has been (module doc). */
export class NativeMemoryRelease {
  readonly #rss: () => number;
  readonly #trim: Trim | undefined;
  readonly #growth: number;
  /** The lowest resident memory seen at start or after a trim. */
  #floor: number;
  /** Trims made so far. */
  trims = 0;

  /** Starts from the resident memory now. */
  constructor(options: NativeMemoryOptions = {}) {
    this.#rss = options.rss ?? (() => Deno.memoryUsage().rss);
    this.#trim = "trim" in options ? options.trim : glibcTrim();
    this.#growth = options.growthBytes ?? TRIM_GROWTH_BYTES;
    this.#floor = this.#rss();
  }

  /** Whether trims can be made here. */
  get available(): boolean {
    return this.#trim !== undefined;
  }

  /**
   * Trims when resident memory stands at least the growth above the floor; returns the bytes
   * handed back. While the memory is in use a trim finds little free and costs little; the first
   * one after a burst hands the burst's memory back.
   */
  look(): number {
    if (!this.#trim) return 0;
    const before = this.#rss();
    if (before < this.#floor + this.#growth) return 0;
    const started = performance.now();
    this.#trim();
    this.trims++;
    const after = this.#rss();
    this.#floor = Math.min(this.#floor, after);
    const released = Math.max(0, before - after);
    log.debug("handed {mib} MiB of free native memory back to the system in {ms} ms", {
      mib: Math.round(released / 2 ** 20),
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    return released;
  }

  /** Looks every `everyMs` until the returned function is called; the timer never keeps the process alive. */
  every(everyMs = TRIM_EVERY_MS): () => void {
    if (!this.#trim) return () => {};
    const timer = setInterval(() => this.look(), everyMs);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  }
}
