/**
 * Samples of the fused merge (fast_merge.ts): stacks interned whole in a stack table, samples as
 * (stack, label identity) pairs.
 *
 * A stack is stored once, its merged location indexes leaf first (the order profile.proto
 * stores) in one pool, and found by a hash of the whole sequence: one probe and one sequential
 * compare per sample. (A call-tree trie stores fewer ids — callers' prefixes are shared — but
 * costs one random probe per frame: measured on 100 real labelled profiles it was the merge's
 * largest cost, 12% of the process.) A sample's key is then two integers.
 *
 * @module
 */

import { mixHash } from "./merge_samples.ts";
import { finalMix, HASH_SEED } from "./hash_seed.ts";

function grow(a: Int32Array, min: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(min, 2 * a.length));
  b.set(a);
  return b;
}

/** Distinct stacks, numbered 0.. in first-seen order. */
export class StackTable {
  /** Number of stacks. */
  count = 0;
  /** Merged location indexes of every stack, leaf first; stack `i` is `frames[starts[i], starts[i + 1])`. */
  frames: Int32Array = new Int32Array(65536);
  /** Start of each stack in `frames` (`count + 1` entries used). */
  starts: Int32Array = new Int32Array(4097);
  #hashes = new Int32Array(4096);
  #slots = new Int32Array(8192); // stack + 1; 0 = empty

  /** Makes room for `stacks` more stacks at once (the frame pool grows as needed). */
  reserve(stacks: number): void {
    const need = this.count + stacks;
    if (need + 1 > this.starts.length) {
      this.starts = grow(this.starts, need + 1);
      this.#hashes = grow(this.#hashes, need);
    }
    if (need * 2 > this.#slots.length) this.#rehash(need);
  }

  /** Index of the stack `ids[0, n)` (merged location indexes, leaf first), added when new. */
  intern(ids: Int32Array, n: number): number {
    let h = 0x1b873593 ^ HASH_SEED ^ n;
    for (let i = 0; i < n; i++) h = mixHash(h, ids[i]);
    h = finalMix(h);
    const slots = this.#slots, mask = slots.length - 1, starts = this.starts, frames = this.frames;
    let pos = h & mask;
    for (let e = slots[pos]; e !== 0; e = slots[pos = (pos + 1) & mask]) {
      const stack = e - 1, at = starts[stack];
      if (this.#hashes[stack] !== h || starts[stack + 1] - at !== n) continue;
      let i = 0;
      while (i < n && frames[at + i] === ids[i]) i++;
      if (i === n) return stack;
    }
    const stack = this.count++;
    if (stack + 2 > starts.length) {
      this.starts = grow(starts, stack + 2);
      this.#hashes = grow(this.#hashes, stack + 1);
    }
    const at = this.starts[stack];
    if (at + n > frames.length) this.frames = grow(frames, at + n);
    const out = this.frames;
    for (let i = 0; i < n; i++) out[at + i] = ids[i];
    this.starts[stack + 1] = at + n;
    this.#hashes[stack] = h;
    slots[pos] = stack + 1;
    if (this.count * 2 > slots.length) this.#rehash();
    return stack;
  }

  #rehash(min = 0): void {
    let size = this.#slots.length * 2;
    while (size < 2 * min) size *= 2;
    const slots = new Int32Array(size), mask = slots.length - 1;
    for (let stack = 0; stack < this.count; stack++) {
      let p = this.#hashes[stack] & mask;
      while (slots[p] !== 0) p = (p + 1) & mask;
      slots[p] = stack + 1;
    }
    this.#slots = slots;
  }
}

/** Merged samples by (stack, label identity), numbered 0.. in first-seen order. */
export class SampleIndex {
  /** Number of samples. */
  count = 0;
  /** Stack of each sample. */
  stack: Int32Array = new Int32Array(4096);
  /** Label identity of each sample (0 = no labels). */
  identity: Int32Array = new Int32Array(4096);
  #slots = new Int32Array(8192); // sample + 1; 0 = empty

  /** Makes room for `n` more samples at once (one allocation instead of repeated doubling). */
  reserve(n: number): void {
    const need = this.count + n;
    if (need > this.stack.length) {
      this.stack = grow(this.stack, need);
      this.identity = grow(this.identity, need);
    }
    if (need * 2 > this.#slots.length) this.#rehash(need);
  }

  /** Index of the sample with this key; a new one (index = previous `count`) when unseen. */
  intern(stack: number, identity: number): number {
    const slots = this.#slots, mask = slots.length - 1;
    let pos = sampleHash(stack, identity) & mask;
    for (let e = slots[pos]; e !== 0; e = slots[pos = (pos + 1) & mask]) {
      if (this.stack[e - 1] === stack && this.identity[e - 1] === identity) return e - 1;
    }
    const sample = this.count++;
    if (sample >= this.stack.length) {
      this.stack = grow(this.stack, sample + 1);
      this.identity = grow(this.identity, sample + 1);
    }
    this.stack[sample] = stack;
    this.identity[sample] = identity;
    slots[pos] = sample + 1;
    if (this.count * 2 > slots.length) this.#rehash();
    return sample;
  }

  #rehash(min = 0): void {
    let size = this.#slots.length * 2;
    while (size < 2 * min) size *= 2;
    const slots = new Int32Array(size), mask = slots.length - 1;
    for (let i = 0; i < this.count; i++) {
      let p = sampleHash(this.stack[i], this.identity[i]) & mask;
      while (slots[p] !== 0) p = (p + 1) & mask;
      slots[p] = i + 1;
    }
    this.#slots = slots;
  }
}

/** The seeded hash a sample's key (stack, label identity) is placed by. */
function sampleHash(stack: number, identity: number): number {
  return finalMix(mixHash(mixHash(0x3c6ef372 ^ HASH_SEED, stack), identity));
}
