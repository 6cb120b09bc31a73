/**
 * Builders of small hand-made profiles for the engine's unit tests (merge, prune, pgo,
 * summary). Not part of the engine API.
 *
 * @module
 */

import type { Function, Location, Mapping, Profile, Sample } from "../../core/pprof/profile.ts";
import { emptyProfile } from "../../core/pprof/profile.ts";

/** A function with defaults (`x.go`, start line 1). */
export function fn(id: number, name: string, startLine = 1, filename = "x.go"): Function {
  return { id, name, systemName: name, filename, startLine };
}

/** A mapping with defaults (`/bin/app`, no build id, all has_* flags set). */
export function mapping(id: number, start: bigint, limit: bigint, extra: Partial<Mapping> = {}): Mapping {
  return {
    id,
    memoryStart: start,
    memoryLimit: limit,
    fileOffset: 0n,
    file: "/bin/app",
    buildId: "",
    hasFunctions: true,
    hasFilenames: true,
    hasLineNumbers: true,
    hasInlineFrames: true,
    ...extra,
  };
}

/** A location; `lines` innermost first as `[function, line, column?]`. */
export function loc(
  id: number,
  m: Mapping | undefined,
  address: bigint,
  lines: [Function, number, number?][],
  isFolded = false,
): Location {
  return {
    id,
    mapping: m,
    address,
    line: lines.map(([f, line, column]) => ({ function: f, line, column: column ?? 0 })),
    isFolded,
  };
}

/** A sample with optional labels. */
export function sample(
  location: Location[],
  value: number[],
  labels: Pick<Sample, "label" | "numLabel" | "numUnit"> = {},
): Sample {
  return { location, value, ...labels };
}

/** A CPU-like profile (`samples/count`, `cpu/nanoseconds`; period type cpu/nanoseconds) from parts. */
export function cpuProfile(parts: {
  mappings?: Mapping[];
  functions?: Function[];
  locations?: Location[];
  samples?: Sample[];
  header?: Partial<Profile>;
}): Profile {
  const p = emptyProfile();
  p.sampleType = [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }];
  p.periodType = { type: "cpu", unit: "nanoseconds" };
  p.period = 10_000_000;
  p.mapping = parts.mappings ?? [];
  p.function = parts.functions ?? [];
  p.location = parts.locations ?? [];
  p.sample = parts.samples ?? [];
  return Object.assign(p, parts.header ?? {});
}

/**
 * A small standard profile: main.main → main.work → main.leaf (leaf inlined into work at
 * one location), one mapping, three samples.
 */
export function smallProfile(base = 0x400000n, values: number[][] = [[1, 10], [2, 20], [3, 30]]): Profile {
  const m = mapping(1, base, base + 0x10000n);
  const fMain = fn(1, "main.main", 10);
  const fWork = fn(2, "main.work", 20);
  const fLeaf = fn(3, "main.leaf", 30);
  const lMain = loc(1, m, base + 0x100n, [[fMain, 12]]);
  const lWork = loc(2, m, base + 0x200n, [[fLeaf, 31], [fWork, 22]]);
  const lWork2 = loc(3, m, base + 0x300n, [[fWork, 25]]);
  return cpuProfile({
    mappings: [m],
    functions: [fMain, fWork, fLeaf],
    locations: [lMain, lWork, lWork2],
    samples: [
      sample([lWork, lMain], values[0]),
      sample([lWork2, lMain], values[1]),
      sample([lWork, lMain], values[2], { label: { worker: ["a"] } }),
    ],
  });
}
