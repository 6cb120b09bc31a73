/**
 * Tests of local helpers on demand (worker_helpers.ts): only events older than the lag mark the
 * demand, and at most twice a second; helpers are wanted for five times the lag after the last
 * mark (always with lag 0) and may take every slot only then, and only with idle CPU to spare; a helper's turn ends calm when the
 * demand ends, or makes it the primary when slot 0 frees; the last slot holder out removes the
 * mark with the folder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IdleCpu } from "./idle_cpu.ts";
import { CALM_FACTOR, HELPER_MIN_IDLE_CORES, HelperDemand, LAG_MARK, watchHelperTurn } from "./worker_helpers.ts";

/** An {@link IdleCpu} that reports `cores()` of the given value. */
function idleOf(value: () => number | undefined): IdleCpu {
  return Object.assign(new IdleCpu(() => undefined), { cores: value });
}
import { LocalWorkerSlots } from "./worker_standby.ts";

async function withSlotsDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "autopgo-helpers-" });
  try {
    await fn(`${root}/slots`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("helper demand: marked by events older than the lag, wanted for five times the lag after", async () => {
  await withSlotsDir(async (dir) => {
    await Deno.mkdir(dir);
    let now = 1_700_000_000_000;
    let idle: number | undefined = 1;
    const demand = new HelperDemand(dir, 2_000, { clock: () => now, idle: idleOf(() => idle) });
    const other = new HelperDemand(dir, 2_000, { clock: () => now, idle: idleOf(() => idle) }); // another process of the pipeline
    const slots = new LocalWorkerSlots(dir, 3, "h");
    assert.equal(demand.wanted(), false, "no mark yet");
    assert.equal(demand.limitFor(slots)(), 1, "only slot 0 without demand");
    demand.observe(2_000);
    assert.equal(other.wanted(), false, "an event of exactly the lag is not late");
    await assert.rejects(Deno.stat(`${dir}/${LAG_MARK}`), Deno.errors.NotFound);
    demand.observe(2_001);
    assert.equal(other.wanted(), true, "the mark is shared through the folder");
    assert.equal(other.limitFor(slots)(), 3);
    idle = HELPER_MIN_IDLE_CORES - 0.01;
    assert.equal(other.limitFor(slots)(), 1, "no CPU to spare: a helper would only slow the others down");
    idle = undefined;
    assert.equal(other.limitFor(slots)(), 3, "idle CPU unknown: helpers may join");
    idle = 0;
    const anyLoad = new HelperDemand(dir, 2_000, { clock: () => now, idle: idleOf(() => idle), minIdleCores: 0 });
    assert.equal(anyLoad.limitFor(slots)(), 3, "--local-helper-idle-cpu 0: helpers join whatever the load");
    idle = 1.5;
    const picky = new HelperDemand(dir, 2_000, { clock: () => now, idle: idleOf(() => idle), minIdleCores: 2 });
    assert.equal(picky.limitFor(slots)(), 1, "--local-helper-idle-cpu 2: one and a half idle cores are not enough");
    now += 2_000 * CALM_FACTOR - 1;
    assert.equal(other.wanted(), true);
    now += 1;
    assert.equal(other.wanted(), false, "calm after five times the lag");
    const marked = (await Deno.stat(`${dir}/${LAG_MARK}`)).mtime!.getTime();
    demand.observe(60_000);
    now += 400;
    demand.observe(60_000); // within 500 ms of the last mark of this process: not written
    assert.equal((await Deno.stat(`${dir}/${LAG_MARK}`)).mtime!.getTime(), now - 400);
    assert.ok(now - 400 > marked);
    const always = new HelperDemand(`${dir}/missing`, 0, { clock: () => now, idle: idleOf(() => 0) });
    assert.equal(always.wanted(), true, "lag 0: helpers always consume");
    assert.equal(always.limitFor(slots)(), 3, "whatever the idle CPU");
    always.observe(1e9); // and nothing is marked
    await assert.rejects(Deno.stat(`${dir}/missing`), Deno.errors.NotFound);
  });
});

Deno.test("helper turn: ends calm when the demand ends; becomes the primary when slot 0 frees", async () => {
  await withSlotsDir(async (dir) => {
    let now = Date.now();
    const demand = new HelperDemand(dir, 100, { clock: () => now, idle: idleOf(() => 1) });
    const slots = new LocalWorkerSlots(dir, 2, "h");
    const primary = slots.tryTake()!;
    demand.observe(500);
    const helper = slots.tryTake(demand.limitFor(slots)())!;
    assert.equal(helper.index, 1);
    const stop = new AbortController();
    const calm = watchHelperTurn(slots, helper, demand, stop.signal, 5);
    await new Promise((resolve) => setTimeout(resolve, 30));
    now += 100 * CALM_FACTOR;
    assert.deepEqual(await calm, { ends: "calm" });
    assert.equal(slots.tryTake(), undefined, "a calm helper still holds its slot until it stops consuming");

    primary.release();
    const moved = await watchHelperTurn(slots, helper, demand, stop.signal, 5);
    assert.equal(moved?.ends, "primary");
    assert.equal(moved?.ends === "primary" && moved.slot.index, 0);
    assert.equal(slots.tryTake(1), undefined, "slot 0 is held by the former helper");
    const again = slots.tryTake();
    assert.equal(again?.index, 1, "which gave slot 1 up");
    again!.release();

    const aborted = watchHelperTurn(slots, moved!.ends === "primary" ? moved.slot : helper, demand, stop.signal, 5);
    stop.abort();
    assert.equal(await aborted, undefined);
    if (moved?.ends === "primary") moved.slot.release();
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "the last holder out removes the mark and the folder");
  });
});
