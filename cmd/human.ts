/**
 * Numbers for people: byte sizes (`1.5 MiB`), profile values in their unit (`120ms`, `3.2 GiB`,
 * `1234`), ages (`3h2m`) and percentages, as `inspect` and `list` print them. `--json` output
 * never goes through here: it keeps the raw numbers.
 *
 * @module
 */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Trims `1.50` to `1.5` and `2.00` to `2`. */
function trim(text: string): string {
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

/** A byte count in binary units: `512 B`, `1.5 KiB`, `64 MiB` (at most two decimals). */
export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${sign}${unit === 0 ? String(value) : trim(value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2))} ${
    BYTE_UNITS[unit]
  }`;
}

const TIME_UNITS: [string, number][] = [["ns", 1], ["us", 1e3], ["ms", 1e6], ["s", 1e9], ["min", 60e9], [
  "hrs",
  3600e9,
]];
const NANOS: Record<string, number> = { nanoseconds: 1, ns: 1, microseconds: 1e3, us: 1e3, milliseconds: 1e6, ms: 1e6 };

/** A duration in nanoseconds as pprof shows it: `0`, `10ms`, `1.25s`, `2.5min`. */
export function formatNanos(ns: number): string {
  if (ns === 0) return "0";
  const abs = Math.abs(ns);
  let [name, scale] = TIME_UNITS[0];
  for (const [n, s] of TIME_UNITS) if (abs >= s) [name, scale] = [n, s];
  return `${trim((ns / scale).toFixed(2))}${name}`;
}

/**
 * A sample value in its unit: time units (`nanoseconds`, `ms`…) as durations, `bytes` as sizes,
 * anything else (`count`) as the plain number.
 */
export function formatValue(value: number, unit: string): string {
  const u = unit.toLowerCase();
  if (u in NANOS) return formatNanos(value * NANOS[u]);
  if (u === "seconds" || u === "s") return formatNanos(value * 1e9);
  if (u === "bytes" || u === "byte") return value === 0 ? "0" : formatBytes(value).replace(" ", "");
  return String(value);
}

/** `part` as a percentage of `total` with two decimals (`41.67%`), or `-` when the total is 0. */
export function formatPercent(part: number, total: number): string {
  return total === 0 ? "-" : `${(part / total * 100).toFixed(2)}%`;
}

/** A span of time, coarse as people read it: `45s`, `12m`, `3h5m`, `2d4h` (negative spans are `0s`). */
export function formatSpan(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours}h${minutes % 60}m` : `${hours}h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}d${hours % 24}h` : `${days}d`;
}

/** Time since `then` as {@link formatSpan} writes it (`0s` when `then` is in the future). */
export function formatAge(then: Date, nowMs: number): string {
  return formatSpan(nowMs - then.getTime());
}
