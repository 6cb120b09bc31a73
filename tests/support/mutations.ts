/**
 * Test support: deterministic randomness and seeded byte-level mutations of encoded
 * profiles, shared by the robustness, fused-merge and PGO tests so every failure is
 * reproducible from its seed.
 *
 * @module
 */

/** Deterministic PRNG (mulberry32): uniform numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The concatenation of `parts` in a fresh buffer (typed-array copies: no per-byte spreading). */
function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A mutation: returns a fresh, altered copy of `data`. */
export type Mutation = (data: Uint8Array, rand: () => number) => Uint8Array;
const at = (data: Uint8Array, rand: () => number) => Math.floor(rand() * data.length);

/** The mutation kinds, each returning a fresh buffer. */
export const MUTATIONS: Record<string, Mutation> = {
  bitFlips(data, rand) {
    const out = data.slice();
    const flips = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < flips; i++) out[at(out, rand)] ^= 1 << Math.floor(rand() * 8);
    return out;
  },
  insertBytes(data, rand) {
    const pos = at(data, rand), count = 1 + Math.floor(rand() * 8);
    const extra = Array.from({ length: count }, () => Math.floor(rand() * 256));
    return concat(data.subarray(0, pos), extra, data.subarray(pos));
  },
  deleteBytes(data, rand) {
    const pos = at(data, rand), count = 1 + Math.floor(rand() * 8);
    return concat(data.subarray(0, pos), data.subarray(pos + count));
  },
  truncate(data, rand) {
    return data.slice(0, at(data, rand));
  },
  varintTamper(data, rand) {
    // turn a byte into a varint continuation or blow it up into a maximal 10-byte varint
    const out = data.slice();
    const pos = at(out, rand);
    if (rand() < 0.5) {
      out[pos] |= 0x80;
      return out;
    }
    const huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, rand() < 0.5 ? 0x01 : 0x7f];
    return concat(out.subarray(0, pos), huge, out.subarray(pos + 1));
  },
  randomOverwrite(data, rand) {
    const out = data.slice();
    const pos = at(out, rand), count = 1 + Math.floor(rand() * 16);
    for (let i = pos; i < Math.min(out.length, pos + count); i++) out[i] = Math.floor(rand() * 256);
    return out;
  },
  duplicateChunk(data, rand) {
    const from = at(data, rand), length = 1 + Math.floor(rand() * 64), to = at(data, rand);
    const chunk = data.subarray(from, from + length);
    return concat(data.subarray(0, to), chunk, data.subarray(to));
  },
};

const MUTATION_NAMES = Object.keys(MUTATIONS);

/** Applies one mutation kind chosen with `rand`; returns its name (for failure messages) and the mutant. */
export function randomMutation(data: Uint8Array, rand: () => number): { name: string; mutant: Uint8Array } {
  const name = MUTATION_NAMES[Math.floor(rand() * MUTATION_NAMES.length)];
  return { name, mutant: MUTATIONS[name](data, rand) };
}
