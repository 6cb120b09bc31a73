/**
 * Converts a V8 CPU profile (what `node:inspector`'s `Profiler.stop` returns: a call tree of
 * nodes plus sample hit counts) into a pprof CPU {@link Profile}, so that autopgo's own CPU
 * profile can be served in the format `go tool pprof` and autopgo's scraper read.
 *
 * The result has Go's layout: sample types `samples/count` and `cpu/nanoseconds`, period type
 * `cpu/nanoseconds`, one location per function and line, stacks leaf first. V8 reports the line of
 * the sampled position only for the leaf frame (`positionTicks`); caller frames carry their
 * function's first line. Idle samples (`(idle)`: the thread waited for I/O or timers) are not CPU
 * time and are dropped; `(program)` and `(garbage collector)` are kept as leaf frames.
 *
 * @module
 */

import type { Function, Location, Profile, Sample } from "../pprof/profile.ts";
import { emptyProfile } from "../pprof/profile.ts";

/** A frame of a V8 CPU profile node (0-based line and column; -1 when unknown). */
export interface V8CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** A node of the V8 call tree. */
export interface V8ProfileNode {
  id: number;
  callFrame: V8CallFrame;
  /** Samples whose leaf was this node. */
  hitCount?: number;
  children?: number[];
  /** Hits per source line (1-based) of the leaf position. */
  positionTicks?: { line: number; ticks: number }[];
}

/** `Profiler.stop`'s profile; times in microseconds of a monotonic clock. */
export interface V8CpuProfile {
  nodes: V8ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Options of {@link v8ToPprof}. */
export interface V8ToPprofOptions {
  /** The sampling interval the profiler ran with, in nanoseconds (the profile's period). */
  periodNs: number;
  /** Wall-clock time the profile started (the profile's `time_nanos`). */
  started: Date;
}

const IGNORED = new Set(["(root)", "(idle)"]);

/** Builds a pprof CPU profile from a V8 CPU profile. */
export function v8ToPprof(v8: V8CpuProfile, options: V8ToPprofOptions): Profile {
  const p = emptyProfile();
  p.sampleType = [{ type: "samples", unit: "count" }, { type: "cpu", unit: "nanoseconds" }];
  p.periodType = { type: "cpu", unit: "nanoseconds" };
  p.period = options.periodNs;
  p.timeNanos = BigInt(options.started.getTime()) * 1_000_000n;
  p.durationNanos = BigInt(Math.max(0, Math.round((v8.endTime - v8.startTime) * 1000)));

  const byId = new Map(v8.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of v8.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const functions = new Map<string, Function>();
  const functionOf = (frame: V8CallFrame): Function => {
    const name = frame.functionName || "(anonymous)";
    const startLine = frame.lineNumber >= 0 ? frame.lineNumber + 1 : 0;
    const key = `${name}\0${frame.url}\0${startLine}`;
    let fn = functions.get(key);
    if (!fn) {
      fn = { id: functions.size + 1, name, systemName: name, filename: frame.url, startLine };
      functions.set(key, fn);
      p.function.push(fn);
    }
    return fn;
  };
  const locations = new Map<string, Location>();
  const locationOf = (frame: V8CallFrame, line: number): Location => {
    const fn = functionOf(frame);
    const key = `${fn.id}:${line}`;
    let loc = locations.get(key);
    if (!loc) {
      loc = {
        id: locations.size + 1,
        mapping: undefined,
        address: 0n,
        line: [{ function: fn, line, column: 0 }],
        isFolded: false,
      };
      locations.set(key, loc);
      p.location.push(loc);
    }
    return loc;
  };
  const callers = (node: V8ProfileNode): Location[] => {
    const stack: Location[] = [];
    for (let id = parent.get(node.id); id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame || frame.functionName === "(root)") break;
      stack.push(locationOf(frame, frame.lineNumber >= 0 ? frame.lineNumber + 1 : 0));
    }
    return stack;
  };

  const samples = new Map<string, Sample>();
  const add = (stack: Location[], count: number) => {
    if (count <= 0 || stack.length === 0) return;
    const key = stack.map((l) => l.id).join(",");
    const existing = samples.get(key);
    if (existing) {
      existing.value[0] += count;
      existing.value[1] += count * options.periodNs;
    } else {
      const sample = { location: stack, value: [count, count * options.periodNs] };
      samples.set(key, sample);
      p.sample.push(sample);
    }
  };
  for (const node of v8.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits <= 0 || IGNORED.has(node.callFrame.functionName)) continue;
    const rest = callers(node);
    const startLine = node.callFrame.lineNumber >= 0 ? node.callFrame.lineNumber + 1 : 0;
    let attributed = 0;
    for (const tick of node.positionTicks ?? []) {
      const ticks = Math.min(tick.ticks, hits - attributed);
      add([locationOf(node.callFrame, tick.line), ...rest], ticks);
      attributed += Math.max(0, ticks);
    }
    add([locationOf(node.callFrame, startLine), ...rest], hits - attributed);
  }
  return p;
}
