/** Tests of the integer decay factors (decay.ts): the 0.1% bound on relative weights, and the 2^53 cap. */

import assert from "node:assert/strict";
import { decayFactors, decayWeight, MAX_FACTOR_ERROR } from "./decay.ts";

Deno.test("decayWeight: halves every half-life and never exceeds 1", () => {
  assert.equal(decayWeight(0, 1000), 1);
  assert.equal(decayWeight(1000, 1000), 0.5);
  assert.equal(decayWeight(3000, 1000), 0.125);
  assert.equal(decayWeight(-5, 1000), 1);
  assert.throws(() => decayWeight(1, 0), /half-life must be a positive/);
});

Deno.test("decayFactors: every ratio of factors is within 0.1% of the ratio of weights", () => {
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  for (let round = 0; round < 200; round++) {
    const windows = Array.from({ length: 1 + Math.floor(random() * 30) }, () => ({
      weight: decayWeight(random() * 20, 1 + random() * 5),
      totals: [Math.floor(random() * 1e6)],
    }));
    const { factors, dropped } = decayFactors(windows);
    assert.deepEqual(dropped, []);
    for (const [i, a] of windows.entries()) {
      assert.ok(Number.isInteger(factors[i]) && factors[i]! >= 1);
      for (const [j, b] of windows.entries()) {
        const ratio = (factors[i]! / factors[j]!) / (a.weight / b.weight);
        assert.ok(Math.abs(ratio - 1) <= 2 * MAX_FACTOR_ERROR + 1e-9, `ratio error ${ratio - 1} (round ${round})`);
      }
    }
  }
});

Deno.test("decayFactors: equal weights keep values as they are", () => {
  const out = decayFactors([{ weight: 1, totals: [5] }, { weight: 1, totals: [9] }]);
  assert.deepEqual(out, { factors: [1, 1], dropped: [], scale: 1 });
});

Deno.test("decayFactors: a window too light to keep sums below 2^53 is left out and reported", () => {
  const windows = [
    { weight: 1, totals: [2 ** 40] },
    { weight: 2 ** -20, totals: [10] },
    { weight: 0.5, totals: [2 ** 30] },
  ];
  const out = decayFactors(windows);
  assert.deepEqual(out.dropped, [1]);
  assert.equal(out.factors[1], undefined);
  assert.deepEqual([out.factors[0], out.factors[2]], [2000, 1000]);
  const lone = decayFactors([{ weight: 2 ** -30, totals: [2 ** 52] }]);
  assert.deepEqual(lone.factors, [1], "a lone window always keeps factor 1");
  assert.throws(() => decayFactors([{ weight: 0, totals: [] }]), /not positive/);
});
