/**
 * The filesystem the benchmarks' file:// stores and buses live on, and what creating a file costs there now.
 *
 * The file store and bus create a few files for every upload, so their figures follow that cost. It is not a
 * constant of the machine: on an ext4 filesystem without a journal (the root filesystem of the machines these
 * benchmarks ran on), the kernel skips every inode deleted in the last seconds to minutes when it allocates one, so
 * after a run has created and deleted thousands of files each creation costs about 1 ms of kernel CPU against about
 * 0.02 ms on a journaled ext4 or tmpfs. Reports print it beside the load average.
 *
 * @module
 */

import { join } from "node:path";

/** Files created (and removed) by one {@link fileCreateMicros} probe: enough for a stable mean, little churn. */
const PROBE_FILES = 200;

/** One mount: its device or source, mount point and filesystem type. */
export interface Mount {
  /** Device or source, e.g. `/dev/vda` or `tmpfs`. */
  source: string;
  /** Where it is mounted. */
  point: string;
  /** Filesystem type, e.g. `ext4`. */
  type: string;
}

/**
 * The mount holding `path`: the longest mount point that is a prefix of it, from a `/proc/self/mounts` text (whose
 * mount points escape space, tab, newline and backslash as three octal digits).
 */
export function mountOf(path: string, mountsText: string): Mount | undefined {
  let best: Mount | undefined;
  for (const line of mountsText.split("\n")) {
    const [source, rawPoint, type] = line.split(" ");
    if (!type) continue;
    const point = rawPoint.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(Number.parseInt(octal, 8)));
    const inside = path === point || path.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && (!best || point.length > best.point.length)) best = { source, point, type };
  }
  return best;
}

/**
 * Mean wall time in µs to create, write 100 bytes to and close a new file in `dir`, over {@link PROBE_FILES}
 * files in a fresh folder inside it (removed afterwards).
 */
export function fileCreateMicros(dir: string): number {
  const probe = Deno.makeTempDirSync({ dir, prefix: "autopgo-fs-probe-" });
  const bytes = new Uint8Array(100);
  try {
    const started = performance.now();
    for (let i = 0; i < PROBE_FILES; i++) Deno.writeFileSync(join(probe, String(i)), bytes, { createNew: true });
    return (performance.now() - started) * 1000 / PROBE_FILES;
  } finally {
    Deno.removeSync(probe, { recursive: true });
  }
}

/** One line for a report: where `dir` lives and what a file creation costs there now. */
export function storeFilesystemLine(dir: string): string {
  let mount: Mount | undefined;
  try {
    mount = mountOf(Deno.realPathSync(dir), Deno.readTextFileSync("/proc/self/mounts"));
  } catch {
    // no /proc (not Linux): the cost alone
  }
  const where = mount ? `${mount.type} on ${mount.source} at ${mount.point}` : "unknown filesystem";
  return `file:// stores in ${dir} (${where}): ${fileCreateMicros(dir).toFixed(0)} µs per file creation`;
}

/** The temporary folder the benchmarks' stores are made in (`Deno.makeTempDir`'s): `$TMPDIR`, else `/tmp`. */
export function benchTempDir(): string {
  return Deno.env.get("TMPDIR") ?? "/tmp";
}

/** `TMPDIR=… ` when set, for a report's reproduce line: it chose the filesystem the figures depend on. */
export function tmpdirPrefix(): string {
  const tmpdir = Deno.env.get("TMPDIR");
  return tmpdir ? `TMPDIR=${tmpdir} ` : "";
}
