/**
 * Exponential decay of profile windows with integer sample values (issue 14).
 *
 * A window of age `a` weighs `w = 2^(−a/D)` for half-life `D`. pprof sample values are integers,
 * so a window cannot be multiplied by `w` itself: it is multiplied by an integer factor
 * `k = round(S · w / w_max)`, where `w_max` is the heaviest window's weight and the scale `S` is
 * chosen so that rounding moves no factor by more than {@link MAX_FACTOR_ERROR} (0.05%) of
 * itself. Rounding moves a factor by at most 0.5, so `S · w_min / w_max ≥ 0.5 / 0.0005 = 1000`
 * suffices: `S = ceil(1000 · w_max / w_min)`. The ratio of any two factors is then within
 * (1 ± 0.0005)/(1 ∓ 0.0005), i.e. 0.1%, of the ratio of their weights, which is all the compiler
 * sees (PGO weights are relative). When every weight is equal the factors are all 1.
 *
 * Values must stay exact integers: the merged value of a sample is at most `Σ k_i · total_i`
 * (`total_i`: the sum of a value column of window i), which must not exceed 2^53 − 1. When it
 * would, the lightest window is left out (it is reported, never silently lost) and the scale is
 * computed again; a lone window always gets factor 1.
 *
 * @module
 */

/** Largest relative rounding error of one factor: 0.05%, so ratios of factors stay within 0.1%. */
export const MAX_FACTOR_ERROR = 0.0005;

/** The weight `2^(−ageMs/halfLifeMs)` of a window `ageMs` old (ages below 0 count as 0). */
export function decayWeight(ageMs: number, halfLifeMs: number): number {
  if (!(halfLifeMs > 0)) throw new RangeError(`half-life must be a positive number of ms, got ${halfLifeMs}`);
  return 2 ** (-Math.max(0, ageMs) / halfLifeMs);
}

/** A window to scale: its weight and, per value column, the sum of its sample values. */
export interface DecayInput {
  weight: number;
  /** Sum of the absolute sample values of each column (sample type) of the window. */
  totals: number[];
}

/** Integer factors for a set of windows (see the module doc). */
export interface DecayFactors {
  /** Factor of each input window, in input order; undefined for a window left out. */
  factors: (number | undefined)[];
  /** Indexes of the windows left out because their weight was too small to keep values exact. */
  dropped: number[];
  /** The factor of the heaviest window (`S`); 1 when no scaling was needed. */
  scale: number;
}

/**
 * Integer factors `k_i = round(S · w_i / w_max)` for `windows`, with `S = ceil(1000 · w_max /
 * w_min)`, dropping the lightest windows until `Σ k_i · total_i ≤ maxValue` for every column.
 */
export function decayFactors(windows: readonly DecayInput[], maxValue = Number.MAX_SAFE_INTEGER): DecayFactors {
  for (const w of windows) {
    if (!(w.weight > 0) || !Number.isFinite(w.weight)) {
      throw new RangeError(`window weight ${w.weight} is not positive`);
    }
  }
  const order = windows.map((_, i) => i).sort((a, b) => windows[b].weight - windows[a].weight || a - b);
  const dropped: number[] = [];
  while (order.length > 0) {
    const wMax = windows[order[0]].weight;
    const wMin = windows[order[order.length - 1]].weight;
    const scale = wMax === wMin ? 1 : Math.ceil(wMax / wMin / (2 * MAX_FACTOR_ERROR));
    const factors: (number | undefined)[] = windows.map(() => undefined);
    for (const i of order) factors[i] = scale === 1 ? 1 : Math.round(scale * windows[i].weight / wMax);
    if (order.length === 1 || fits(windows, factors, maxValue)) return { factors, dropped: dropped.sort(), scale };
    dropped.push(order.pop()!);
  }
  return { factors: [], dropped, scale: 1 };
}

function fits(windows: readonly DecayInput[], factors: (number | undefined)[], maxValue: number): boolean {
  const columns = Math.max(0, ...windows.map((w) => w.totals.length));
  for (let c = 0; c < columns; c++) {
    let sum = 0;
    for (const [i, w] of windows.entries()) {
      const k = factors[i];
      if (k !== undefined) sum += k * Math.abs(w.totals[c] ?? 0);
    }
    if (!(sum <= maxValue)) return false;
  }
  return true;
}
