/**
 * The flame graph of a profile as small JSON: what `GET /api/profile/:app/flamegraph` answers and
 * the web page draws.
 *
 * Shape ({@link FlameGraph}): `names` is a string table (`names[0]` is `"root"`), and `frames` is
 * one flat array of numbers, four per frame — name index, depth (the root is 0), total, self —
 * in depth-first order: a frame's children follow it, heaviest first (ties by name). A client
 * lays frames out with one running offset per depth: a frame starts where its parent starts plus
 * the totals of its earlier siblings.
 *
 * Stacks are built like pprof's: a sample's locations run leaf first and a location's lines run
 * innermost first, so each stack is read backwards (inlined calls become frames of their own).
 * A line without a function is `<unknown>`; a location without lines is its address in hex —
 * the names `inspect` uses. Widths measure one sample type, the one `inspect` ranks by; samples
 * whose value is 0 or negative are left out (a flame graph of a diff profile means nothing).
 *
 * Size is bounded: frames narrower than `minShare` of the total, and the narrowest frames beyond
 * `maxFrames`, are omitted with everything under them (a child is never wider than its parent, so
 * what is kept is a tree). Their weight stays in their parent's total, not in its self, and
 * `omitted` counts them.
 *
 * @module
 */

import type { Profile } from "../pprof/profile.ts";

/** JSON of `GET /api/profile/:app/flamegraph`. */
export interface FlameGraph {
  /** The sample type widths measure, `type/unit` (e.g. `cpu/nanoseconds`); "" without sample types. */
  sampleType: string;
  /** Its unit (e.g. `nanoseconds`, `count`, `bytes`). */
  unit: string;
  /** Sum of the positive values of all samples: the root's width. */
  total: number;
  /** Frame names, referred to by index; `names[0]` is `"root"`. */
  names: string[];
  /** Four numbers per frame, depth first: name index, depth, total, self. */
  frames: number[];
  /** The deepest frame's depth (0 when there is only the root). */
  maxDepth: number;
  /**
   * The most locations in one sample's stack. At most 2 means the stacks were cut to what Go PGO
   * reads (the worker's default `--compaction pgo`); a Go runtime stack is always deeper.
   */
  maxLocations: number;
  /** Frames left out for being too narrow (see the module doc). */
  omitted: number;
}

/** Options of {@link flameGraph}. */
export interface FlameGraphOptions {
  /** Frames narrower than this share of the total are omitted (default 1e-5). */
  minShare?: number;
  /** At most this many frames, the root included (default 30,000). */
  maxFrames?: number;
}

/** Numbers per frame in {@link FlameGraph.frames}. */
export const FRAME_STRIDE = 4;

interface Node {
  name: number;
  total: number;
  self: number;
  children: Map<number, Node>;
}

function newNode(name: number): Node {
  return { name, total: 0, self: 0, children: new Map() };
}

/** Builds the flame graph of `p` for sample type `sampleIndex` (-1: an empty graph). */
export function flameGraph(p: Profile, sampleIndex: number, opts: FlameGraphOptions = {}): FlameGraph {
  const type = p.sampleType[sampleIndex];
  const names = ["root"];
  const nameIndex = new Map<string, number>();
  const intern = (name: string) => {
    let i = nameIndex.get(name);
    if (i === undefined) nameIndex.set(name, i = names.push(name) - 1);
    return i;
  };
  const root = newNode(0);
  const stack: number[] = [];
  let maxLocations = 0;
  for (const sample of type ? p.sample : []) {
    const v = sample.value[sampleIndex] ?? 0;
    if (!(v > 0)) continue;
    if (sample.location.length > maxLocations) maxLocations = sample.location.length;
    stack.length = 0;
    for (let i = sample.location.length - 1; i >= 0; i--) {
      const loc = sample.location[i];
      if (loc.line.length === 0) stack.push(intern(`0x${loc.address.toString(16)}`));
      for (let j = loc.line.length - 1; j >= 0; j--) stack.push(intern(loc.line[j].function?.name || "<unknown>"));
    }
    let node = root;
    node.total += v;
    for (const name of stack) {
      let child = node.children.get(name);
      if (!child) node.children.set(name, child = newNode(name));
      child.total += v;
      node = child;
    }
    node.self += v;
  }
  const threshold = cutoff(root, opts);
  const frames: number[] = [];
  let maxDepth = 0;
  let omitted = 0;
  const walk = (node: Node, depth: number) => {
    frames.push(node.name, depth, node.total, node.self);
    if (depth > maxDepth) maxDepth = depth;
    const children = [...node.children.values()].sort((a, b) =>
      b.total - a.total || (names[a.name] < names[b.name] ? -1 : names[a.name] > names[b.name] ? 1 : 0)
    );
    for (const child of children) {
      if (child.total > threshold) walk(child, depth + 1);
      else omitted += count(child);
    }
  };
  walk(root, 0);
  return {
    sampleType: type ? `${type.type}/${type.unit}` : "",
    unit: type?.unit ?? "",
    total: root.total,
    names: compactNames(names, frames),
    frames,
    maxDepth,
    maxLocations,
    omitted,
  };
}

/** The largest total a frame may have and still be omitted (frames must be strictly wider). */
function cutoff(root: Node, opts: FlameGraphOptions): number {
  const byShare = root.total * (opts.minShare ?? 1e-5);
  const maxFrames = Math.max(1, opts.maxFrames ?? 30_000);
  const totals: number[] = [];
  const collect = (node: Node) => {
    for (const child of node.children.values()) {
      if (child.total > byShare) totals.push(child.total), collect(child);
    }
  };
  collect(root);
  if (totals.length < maxFrames) return byShare;
  totals.sort((a, b) => b - a);
  return Math.max(byShare, totals[maxFrames - 1]);
}

function count(node: Node): number {
  let n = 1;
  for (const child of node.children.values()) n += count(child);
  return n;
}

/** Drops names no kept frame uses and renumbers the frames' name indexes (in place). */
function compactNames(names: string[], frames: number[]): string[] {
  const renumbered = new Map<number, number>();
  const kept: string[] = [];
  for (let i = 0; i < frames.length; i += FRAME_STRIDE) {
    let j = renumbered.get(frames[i]);
    if (j === undefined) renumbered.set(frames[i], j = kept.push(names[frames[i]]) - 1);
    frames[i] = j;
  }
  return kept;
}
