/**
 * Profiles for the web page's tests: one whose function names are HTML and JavaScript injection
 * attempts (a profile's names are chosen by whoever uploads it).
 *
 * @module
 */

import type { Profile } from "../../core/pprof/profile.ts";
import { cpuProfile, fn, loc, sample } from "./build_profiles.ts";

/** Function names a hostile profile could carry. */
export const HOSTILE_NAMES = [
  `<img src=x onerror="window.__pwned=1">`,
  `"></script><script>window.__pwned=2</script>`,
  `main.(*T).M'); window.__pwned=3; ('`,
  `&lt;b&gt;entity&amp;`,
];

/** A PGO-usable CPU profile whose functions have {@link HOSTILE_NAMES}, each calling the next. */
export function hostileProfile(): Profile {
  const fns = HOSTILE_NAMES.map((name, i) => fn(i + 1, name, 10));
  const locs = fns.map((f, i) => loc(i + 1, undefined, BigInt(0x1000 * (i + 1)), [[f, 12 + i]]));
  return cpuProfile({
    functions: fns,
    locations: locs,
    samples: [sample([...locs].reverse(), [3, 30_000_000]), sample([locs[1], locs[0]], [2, 20_000_000])],
  });
}
