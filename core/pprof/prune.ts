/**
 * Frame pruning with google/pprof semantics: `Prune(drop, keep)` (what the autopgo worker
 * applies with its pruning rules) and `PruneFrom(drop)` (`go tool pprof -prune_from`).
 *
 * Both work in place, like pprof: locations are trimmed (shared by every sample that uses
 * them) and sample stacks are cut, but nothing is re-aggregated and no entity is removed.
 * Follow with {@link compactProfile} so stacks that became identical merge and unreferenced
 * locations/functions disappear.
 *
 * Regular expressions are matched unanchored (`MatchString`); `g`/`y` flags are ignored.
 *
 * @module
 */

import type { Profile } from "./profile.ts";

// Reserved names that contain "(" and must not be cut at; "(" itself last (leftmost-first alternation).
const RESERVED_NAMES = ["(anonymous namespace)", "operator()"];
const BRACKET_RX = /\(anonymous namespace\)|operator\(\)|\(/g;

/**
 * pprof's `simplifyFunc`: strips one leading "." (PPC ELF v1) and cuts the name at the first
 * "(" that is not part of "(anonymous namespace)" or "operator()". For Go names this turns
 * `pkg.(*T).Method` into `pkg.` and leaves `pkg.T.Method`, `pkg.F.func1`, `pkg.F[...]` as is.
 */
export function simplifyFunctionName(name: string): string {
  const funcName = name.startsWith(".") ? name.slice(1) : name;
  for (const m of funcName.matchAll(BRACKET_RX)) {
    if (!RESERVED_NAMES.includes(m[0])) return funcName.slice(0, m.index);
  }
  return funcName;
}

/** A copy of `rx` without the stateful `g`/`y` flags, so `test` behaves like Go's `MatchString`. */
function stateless(rx: RegExp): RegExp {
  return rx.global || rx.sticky ? new RegExp(rx.source, rx.flags.replace(/[gy]/g, "")) : rx;
}

/**
 * pprof `Prune(dropRx, keepRx)`, in place. A frame is a prune point when its simplified
 * function name matches `drop` and (without `keep`, or) does not match `keep`; frames without
 * a function name never are. Per location, lines are scanned outermost → innermost up to the
 * first prune point: if it is the outermost line the whole location is pruned, otherwise the
 * location keeps only the lines above it; either way frames beneath it are pruned. Per
 * sample, scanning root → leaf, the stack is cut at the first marked location that follows a
 * non-marked ("user") location; leading marked locations are never cut, so a stack never
 * becomes empty and its full value moves to the new leaf. `keep` only exempts the matching
 * frame itself. Call {@link compactProfile} afterwards to re-aggregate.
 */
export function pruneProfile(p: Profile, drop: RegExp, keep?: RegExp): void {
  const dropRx = stateless(drop);
  const keepRx = keep ? stateless(keep) : undefined;
  const cache = new Map<string, boolean>();
  const isPrunePoint = (name: string): boolean => {
    let verdict = cache.get(name);
    if (verdict === undefined) {
      const simple = simplifyFunctionName(name);
      verdict = dropRx.test(simple) && (keepRx === undefined || !keepRx.test(simple));
      cache.set(name, verdict);
    }
    return verdict;
  };

  const prune = new Set<number>();
  const pruneBeneath = new Set<number>();
  for (const loc of p.location) {
    let i = loc.line.length - 1;
    for (; i >= 0; i--) {
      const fn = loc.line[i].function;
      if (fn && fn.name !== "" && isPrunePoint(fn.name)) break;
    }
    if (i < 0) continue;
    pruneBeneath.add(loc.id);
    if (i === loc.line.length - 1) prune.add(loc.id);
    else loc.line = loc.line.slice(i + 1);
  }
  if (pruneBeneath.size === 0) return;

  for (const sample of p.sample) {
    let foundUser = false;
    for (let i = sample.location.length - 1; i >= 0; i--) {
      const id = sample.location[i].id;
      if (!pruneBeneath.has(id)) {
        foundUser = true;
        continue;
      }
      if (!foundUser) continue;
      sample.location = prune.has(id) ? sample.location.slice(i + 1) : sample.location.slice(i);
      break;
    }
  }
}

/**
 * pprof `PruneFrom(dropRx)` (`go tool pprof -prune_from`), in place: in each location the
 * innermost line whose simplified function name matches `drop` becomes the location's first
 * line (inlined frames beneath it are removed); each sample is cut so that its lowest such
 * location becomes the leaf. No "user frame" guard, no keep pattern. Call
 * {@link compactProfile} afterwards to re-aggregate.
 */
export function pruneFrom(p: Profile, drop: RegExp): void {
  const dropRx = stateless(drop);
  const pruneBeneath = new Set<number>();
  for (const loc of p.location) {
    for (let i = 0; i < loc.line.length; i++) {
      const fn = loc.line[i].function;
      if (fn && fn.name !== "" && dropRx.test(simplifyFunctionName(fn.name))) {
        pruneBeneath.add(loc.id);
        if (i > 0) loc.line = loc.line.slice(i);
        break;
      }
    }
  }
  if (pruneBeneath.size === 0) return;
  for (const sample of p.sample) {
    const i = sample.location.findIndex((loc) => pruneBeneath.has(loc.id));
    if (i > 0) sample.location = sample.location.slice(i);
  }
}
