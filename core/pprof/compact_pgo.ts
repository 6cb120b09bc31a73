/**
 * PGO-lossless compaction: shrink a CPU profile to what the Go compiler reads, keeping its
 * call-edge map (see edges.ts) — hence every PGO decision and `go tool preprofile` output —
 * identical (shared/reference/go-pgo.md §6).
 *
 * Per sample: drop it when the selected value is 0 or it has no locations; keep only the first
 * `frames` locations (leaf first) with all their inline lines; drop labels. Per location: drop the
 * mapping, `is_folded` and line columns; canonicalize the address (below). Per function: keep name
 * and start line, drop the system name and (unless asked to keep it) the file name. Header: keep
 * the full sample-type list, period type, period, time and duration (so a compacted base still
 * merges with raw uploads and reads sensibly in `go tool pprof`), drop comments, drop/keep
 * frames and doc URL. Then {@link compactProfile} aggregates equal stacks and drops every
 * unreferenced location, function and string.
 *
 * Address canonicalization ("canonical", the default). The compiler uses a location's address only
 * for node identity `(name, address, start line, line)`, and for a sample's edges only the pattern
 * of equal nodes inside that (truncated) sample matters. So per sample: when no line tuple
 * `(name, start line, line)` occurs in two locations with different addresses, every address
 * becomes 0 (node equality is then decided by the line tuples alone, as before); otherwise each
 * address becomes 1 + the index of the first location with the same original address (the exact
 * equality pattern). Equal-line locations at different PCs then collapse, and so do their
 * samples. Globally merged node identity matters only to Go's "drop nodes whose cumulative and
 * flat weights are 0" rule, which no profile with non-negative values can trigger; runtime CPU
 * profiles and their merges never hold negative values (exactness is guaranteed for non-negative
 * selected values; pprof diff profiles are not PGO input). `addresses: "keep"` keeps the original
 * addresses instead.
 *
 * Compaction commutes with merging (the edge map is linear in samples):
 * `edgeMap(compactForPgo(merge(A, B))) = edgeMap(merge(compactForPgo(A), compactForPgo(B)))`.
 * A profile whose samples all have a zero selected value compacts to a profile without samples,
 * exactly as pprof's Merge/Compact already treats it.
 *
 * @module
 */

import { NO_SAMPLE_INDEX_MESSAGE, pgoFrames } from "./edges.ts";
import { ProfileError } from "./errors.ts";
import { compactProfile } from "./merge.ts";
import { pgoSampleIndex } from "./pgo.ts";
import type { Function, Location, Profile, Sample } from "./profile.ts";

/** Options of {@link compactForPgo}. */
export interface CompactForPgoOptions {
  /** Locations kept per sample, leaf first (Go compilers read 2). Must be a positive integer. */
  frames?: number;
  /** "canonical" (default) rewrites addresses to the per-sample equality pattern; "keep" keeps them. */
  addresses?: "canonical" | "keep";
  /** Keep `Function.filename` for `go tool pprof -list` (the compiler ignores it; ~6% of the output). Default false. */
  keepFilenames?: boolean;
}

/**
 * Returns a new, compacted profile with the same Go PGO edge map as `p` (`p` is not modified).
 *
 * Throws {@link ProfileError} `invalid` when `p` has samples but no `samples/count` or
 * `cpu/nanoseconds` sample type (the compiler rejects such a profile, and there is no weight to
 * compact by).
 */
export function compactForPgo(p: Profile, opts: CompactForPgoOptions = {}): Profile {
  const frames = pgoFrames(opts.frames);
  const canonical = (opts.addresses ?? "canonical") === "canonical";
  const keepFilenames = opts.keepFilenames ?? false;
  const sampleIndex = pgoSampleIndex(p);
  if (sampleIndex < 0 && p.sample.length > 0) {
    throw new ProfileError("invalid", `compact for PGO: ${NO_SAMPLE_INDEX_MESSAGE}`);
  }

  const functions = new Map<Function, Function>();
  const cloneFunction = (fn: Function | undefined): Function | undefined => {
    if (!fn) return undefined;
    let copy = functions.get(fn);
    if (!copy) {
      copy = {
        id: functions.size + 1,
        name: fn.name,
        systemName: "",
        filename: keepFilenames ? fn.filename : "",
        startLine: fn.startLine,
      };
      functions.set(fn, copy);
    }
    return copy;
  };

  // Clones per (source location, rewritten address): a location can be a leaf in one sample and a
  // caller in another, so it is never rewritten in place.
  const locations: Location[] = [];
  const clones = new Map<Location, Map<bigint, Location>>();
  const cloneLocation = (loc: Location, address: bigint): Location => {
    let byAddress = clones.get(loc);
    if (!byAddress) clones.set(loc, byAddress = new Map());
    let copy = byAddress.get(address);
    if (!copy) {
      copy = {
        id: locations.length + 1,
        mapping: undefined,
        address,
        line: loc.line.map((l) => ({ function: cloneFunction(l.function), line: l.line, column: 0 })),
        isFolded: false,
      };
      byAddress.set(address, copy);
      locations.push(copy);
    }
    return copy;
  };

  const samples: Sample[] = [];
  const nameIds = nameInterner();
  for (const s of p.sample) {
    if (s.value[sampleIndex] === 0 || s.location.length === 0) continue;
    const stack = s.location.slice(0, frames);
    const addresses = canonical ? canonicalAddresses(stack, nameIds) : stack.map((l) => l.address);
    samples.push({ location: stack.map((l, i) => cloneLocation(l, addresses[i])), value: [...s.value] });
  }

  return compactProfile({
    sampleType: p.sampleType.map((t) => ({ ...t })),
    defaultSampleType: p.defaultSampleType,
    sample: samples,
    mapping: [],
    location: locations,
    function: [...functions.values()],
    dropFrames: "",
    keepFrames: "",
    timeNanos: p.timeNanos,
    durationNanos: p.durationNanos,
    periodType: { ...p.periodType },
    period: p.period,
    comments: [],
    docUrl: "",
  });
}

/** Interns function names as small numbers (equal names, equal ids), so per-frame keys stay short. */
export type NameIds = (fn: Function) => number;

/** A fresh {@link NameIds}: one lookup per function object, one per distinct name; "" is 0. */
export function nameInterner(): NameIds {
  const byName = new Map<string, number>([["", 0]]);
  const byFunction = new Map<Function, number>();
  return (fn) => {
    let id = byFunction.get(fn);
    if (id === undefined) {
      id = byName.get(fn.name);
      if (id === undefined) byName.set(fn.name, id = byName.size);
      byFunction.set(fn, id);
    }
    return id;
  };
}

/**
 * Node identity of a line without its address (what Go's NodeInfo holds besides the address); a
 * line without a function is the zero tuple, like a function named "" at start line 0, line 0.
 */
function lineTuples(loc: Location, nameIds: NameIds): string[] {
  if (loc.line.length === 0) return ["0|0|0"];
  return loc.line.map((l) => l.function ? `${l.function.startLine}|${l.line}|${nameIds(l.function)}` : "0|0|0");
}

/**
 * Rewrites the addresses of one truncated stack so that node equality inside the stack is
 * unchanged: all 0 when no line tuple is shared by locations with different addresses, else the
 * exact address equality pattern (1 + index of the first location with the same address).
 */
export function canonicalAddresses(stack: Location[], nameIds: NameIds = nameInterner()): bigint[] {
  if (stack.length < 2) return stack.map(() => 0n);
  const owner = new Map<string, bigint>();
  let collision = false;
  for (const loc of stack) {
    for (const t of lineTuples(loc, nameIds)) {
      const seen = owner.get(t);
      if (seen === undefined) owner.set(t, loc.address);
      else if (seen !== loc.address) collision = true;
    }
    if (collision) break;
  }
  if (!collision) return stack.map(() => 0n);
  return stack.map((l) => BigInt(stack.findIndex((o) => o.address === l.address) + 1));
}
