/**
 * The seed of the merge engines' hash tables, drawn once per process.
 *
 * Entities, strings, label sets and stacks are looked up by 32-bit hashes of their identity.
 * With a fixed, public hash function, an upload can be crafted whose thousands of different
 * functions, strings or locations all hash alike, so that each lookup walks all the earlier
 * ones: quadratic work in the worker (64k colliding function names cost 20 s to merge, and stayed
 * in the base for every later merge). A secret per-process seed mixed into every hash keeps the
 * placement unpredictable; the tables' ids and the encoded bytes never depend on it (ids are given
 * in first-use order, tables are only probed), so the output is the same in every process.
 *
 * Hashes mixed step by step can still be made to collide whatever the seed (a difference in a
 * value's top bits can be cancelled by the next value), so each table also refuses an input once
 * a lookup meets more than {@link MAX_ALIKE} different entries with one hash
 * ({@link hashFloodError}): real profiles never come near it.
 *
 * @module
 */

import { ProfileError } from "./errors.ts";

/** A random 32-bit seed, the same for every table of this process. */
export const HASH_SEED: number = crypto.getRandomValues(new Int32Array(1))[0];

/**
 * Mixes all bits of `h` into all others (MurmurHash3's finaliser): what a table takes its slot
 * from must depend on every bit of the hashed state, not only on its low bits.
 */
export function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Different entries with one 32-bit hash a lookup may meet before the input is refused. */
export const MAX_ALIKE = 64;

/** The error an input gets once more than {@link MAX_ALIKE} different `what` share one hash. */
export function hashFloodError(what: string): ProfileError {
  return new ProfileError(
    "too-large",
    `more than ${MAX_ALIKE} different ${what} share one hash: refused as crafted to slow merging down`,
  );
}
