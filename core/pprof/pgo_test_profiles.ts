/**
 * Test helper: builds small hand-made profiles for the edge-map and PGO-compaction tests.
 *
 * A frame is written `name:startLine:line` (or `?` for a line without function); a location is a
 * list of frames innermost first plus an address; a sample is a stack of locations leaf first.
 *
 * @module
 */

import { emptyProfile, type Function, type Location, type Mapping, type Profile, type ValueType } from "./profile.ts";
import { seededRandom } from "../../tests/support/mutations.ts";

/** One location of a hand-built stack. */
export interface LocSpec {
  address: number;
  /** Frames innermost first: `name:startLine:line`, or `?` for a line without function. Empty ⇒ no lines. */
  frames: string[];
}

/** One hand-built sample. */
export interface SampleSpec {
  /** Stack, leaf first. */
  stack: LocSpec[];
  value: number[];
  label?: Record<string, string[]>;
}

/** Builds a valid profile (ids 1..n, shared locations/functions, one mapping) from specs. */
export function buildProfile(
  samples: SampleSpec[],
  sampleType: ValueType[] = [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }],
): Profile {
  const p = emptyProfile();
  p.sampleType = sampleType;
  p.periodType = { type: "cpu", unit: "nanoseconds" };
  p.period = 10_000_000;
  p.comments = ["hand-built"];
  const mapping: Mapping = {
    id: 1,
    memoryStart: 0x400000n,
    memoryLimit: 0x800000n,
    fileOffset: 0n,
    file: "/bin/app",
    buildId: "abc",
    hasFunctions: true,
    hasFilenames: true,
    hasLineNumbers: true,
    hasInlineFrames: true,
  };
  p.mapping = [mapping];
  const functions = new Map<string, Function>();
  const locations = new Map<string, Location>();
  const fn = (name: string, startLine: number): Function => {
    const key = `${name}:${startLine}`;
    let f = functions.get(key);
    if (!f) {
      f = { id: functions.size + 1, name, systemName: name, filename: `/src/${name}.go`, startLine };
      functions.set(key, f);
      p.function.push(f);
    }
    return f;
  };
  const loc = (spec: LocSpec): Location => {
    const key = `${spec.address}|${spec.frames.join(",")}`;
    let l = locations.get(key);
    if (!l) {
      l = {
        id: locations.size + 1,
        mapping,
        address: BigInt(spec.address),
        isFolded: false,
        line: spec.frames.map((f) => {
          if (f === "?") return { function: undefined, line: 7, column: 0 };
          const [name, start, line] = f.split(":");
          return { function: fn(name, Number(start)), line: Number(line), column: 3 };
        }),
      };
      locations.set(key, l);
      p.location.push(l);
    }
    return l;
  };
  for (const s of samples) {
    p.sample.push({ location: s.stack.map(loc), value: [...s.value], ...(s.label ? { label: s.label } : {}) });
  }
  return p;
}

/** Shorthand: a single-frame location. */
export function at(address: number, ...frames: string[]): LocSpec {
  return { address, frames };
}

/** Asserts that `fn` throws an instance of `ctor` and returns the error (node:assert's `throws` does not). */
// deno-lint-ignore no-explicit-any
export function assertThrows<E extends Error>(fn: () => unknown, ctor: new (...args: any[]) => E): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof ctor) return e;
    throw new Error(`expected ${ctor.name}, got ${e}`);
  }
  throw new Error(`expected ${ctor.name} to be thrown`);
}

/** Deterministic random integers in [0, n) (mulberry32 via seededRandom) so failures reproduce. */
export function rng(seed: number): (n: number) => number {
  const random = seededRandom(seed);
  return (n) => Math.floor(random() * n);
}

/** A random CPU-like profile: few functions and addresses (so recursion and collisions happen), inline frames, labels. */
export function randomProfile(seed: number, samples = 40): Profile {
  const r = rng(seed);
  const frame = () => {
    const f = r(8);
    const start = f === 7 ? 0 : 10 * f + 1;
    return `f${f}:${start}:${start + r(4)}`;
  };
  const location = (): LocSpec => ({
    address: 0x1000 + r(12),
    frames: r(10) === 0 ? [] : Array.from({ length: 1 + r(3) }, () => (r(15) === 0 ? "?" : frame())),
  });
  const specs: SampleSpec[] = [];
  for (let i = 0; i < samples; i++) {
    const count = r(5) === 0 ? 0 : 1 + r(4);
    specs.push({
      stack: Array.from({ length: r(6) }, location),
      value: [count, count * 10_000_000 + r(3)],
      ...(r(2) === 0 ? { label: { worker: [`w${r(3)}`] } } : {}),
    });
  }
  return buildProfile(specs);
}
