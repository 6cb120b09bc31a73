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
 * @module
 */

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
