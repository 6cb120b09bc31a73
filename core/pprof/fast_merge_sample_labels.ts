/**
 * The labels of the sample being merged by the fused merge (fast_merge.ts): read from the wire
 * into a scratch buffer, checked by decode_messages.ts's rules (also for samples that are then
 * skipped), and turned into a label set of fast_merge_labels.ts by pprof's str/num/unit rule.
 *
 * @module
 */

import { newLabelFields, readLabel } from "./decode_messages.ts";
import { ProfileError } from "./errors.ts";
import type { InputTables } from "./fast_merge_input.ts";
import type { LabelSetTable } from "./fast_merge_labels.ts";
import type { StringInterner } from "./fast_merge_strings.ts";
import { WireReader } from "./wire.ts";

function fit(a: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
  if (a.length >= n) return a;
  const b = new Float64Array(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

/** Label fields of one sample: `count` labels as (key, str, num or NaN beyond ±2^53, unit) input indexes. */
export class SampleLabels {
  /** Number of labels read. */
  count = 0;
  #fields = new Float64Array(64);
  #pairs = new Int32Array(32);
  #triples = new Float64Array(48);
  readonly #label = newLabelFields();

  /** Reads the Label message at the reader's position (a length-delimited field value). */
  read(r: WireReader): void {
    const l = this.#label;
    readLabel(r, l);
    const at = 4 * this.count++;
    const f = this.#fields = fit(this.#fields, at + 4);
    f[at] = l.key;
    f[at + 1] = l.str;
    f[at + 2] = l.num;
    f[at + 3] = l.unit;
  }

  /** decode_messages.ts's label rules: string indexes in range, numeric values within ±2^53. */
  check(input: InputTables): void {
    const f = this.#fields;
    for (let i = 0; i < 4 * this.count; i += 4) {
      input.check(f[i], "label key");
      if (f[i + 1] !== 0) input.check(f[i + 1], "label value");
      else if (f[i + 2] !== 0 || f[i + 3] !== 0) {
        if (Number.isNaN(f[i + 2])) throw new ProfileError("unsupported", `numeric label is beyond ±2^53`);
        if (f[i + 3] !== 0) input.check(f[i + 3], "label unit");
      }
    }
  }

  /** Interns the (checked) labels as a label set of `table`; -1 when none survives pprof's rules. */
  intern(input: InputTables, strings: StringInterner, table: LabelSetTable): number {
    const f = this.#fields, n = this.count;
    if (this.#pairs.length < 2 * n) this.#pairs = new Int32Array(2 * n);
    this.#triples = fit(this.#triples, 3 * n);
    const pairs = this.#pairs, triples = this.#triples;
    let ns = 0, nn = 0;
    for (let i = 0; i < 4 * n; i += 4) {
      const key = input.string(f[i], strings, "label key");
      if (f[i + 1] !== 0) {
        pairs[2 * ns] = key;
        pairs[2 * ns++ + 1] = input.string(f[i + 1], strings, "label value");
      } else if (f[i + 2] !== 0 || f[i + 3] !== 0) {
        triples[3 * nn] = key;
        triples[3 * nn + 1] = f[i + 2];
        triples[3 * nn++ + 2] = f[i + 3] === 0 ? 0 : input.string(f[i + 3], strings, "label unit") + 1;
      }
    }
    return table.intern(pairs, ns, triples, nn);
  }
}

/** Number of labels in the sample message at `raw[start, end)` (0 if it is malformed: the real pass reports it). */
export function labelsOf(raw: Uint8Array, start: number, end: number): number {
  const r = new WireReader(raw, start, end);
  let labels = 0;
  try {
    while (r.pos < r.end) {
      const tag = r.tag();
      if (tag === 26) labels++;
      r.skip(tag & 7);
    }
  } catch {
    return 0;
  }
  return labels;
}
