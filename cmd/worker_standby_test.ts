/**
 * Tests of the local worker slots (worker_standby.ts): a slot is an exclusive lock on a file, so a
 * second holder is refused until the first gives it up, however many objects or processes ask;
 * a standby waits until a slot frees or its signal aborts; an unusable folder leaves the worker
 * running without slots.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  localSlotsDir,
  localWorkersArg,
  LocalWorkerSlots,
  openLocalSlots,
  sweepIdleSlotFolders,
  takeLocalSlot,
  waitForLocalSlot,
} from "./worker_standby.ts";

async function withSlotsDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "autopgo-slots-" });
  try {
    await fn(`${root}/slots`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("local slots: at most size holders; a released slot is taken again, and names its holder", async () => {
  await withSlotsDir(async (dir) => {
    const a = new LocalWorkerSlots(dir, 2, "host:1");
    const b = new LocalWorkerSlots(dir, 2, "host:2");
    const first = a.tryTake(), second = b.tryTake();
    assert.deepEqual([first?.index, second?.index], [0, 1]);
    assert.equal(new LocalWorkerSlots(dir, 2, "host:3").tryTake(), undefined, "both slots held");
    assert.equal(await Deno.readTextFile(`${dir}/slot-1`), "host:2\n");
    second!.release();
    second!.release(); // twice is harmless
    const third = new LocalWorkerSlots(dir, 2, "host:3").tryTake();
    assert.equal(third?.index, 1);
    assert.equal(await Deno.readTextFile(`${dir}/slot-1`), "host:3\n");
    first!.release();
    third!.release();
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "the last holder out removes the folder");
  });
});

Deno.test("local slots: four processes taking and releasing one slot thousands of times never hold it together", async () => {
  await withSlotsDir(async (dir) => {
    const module = JSON.stringify(new URL("./worker_standby.ts", import.meta.url).href);
    // Each child marks its hold with a file of its own and counts the holds during which another mark existed.
    const child = `const { LocalWorkerSlots } = await import(${module});
      const dir = ${JSON.stringify(dir)}, marks = dir + "-marks", me = marks + "/" + Deno.pid;
      Deno.mkdirSync(marks, { recursive: true });
      let holds = 0, overlaps = 0;
      for (const end = Date.now() + 1500; Date.now() < end;) {
        const slot = new LocalWorkerSlots(dir, 1, String(Deno.pid)).tryTake();
        if (!slot) continue;
        Deno.writeTextFileSync(me, "");
        if ([...Deno.readDirSync(marks)].length > 1) overlaps++;
        Deno.removeSync(me);
        slot.release();
        holds++;
      }
      console.log(JSON.stringify({ holds, overlaps }));`;
    const outputs = await Promise.all(
      Array.from({ length: 4 }, () => new Deno.Command(Deno.execPath(), { args: ["eval", child] }).output()),
    );
    const results = outputs.map((o) => {
      assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
      return JSON.parse(new TextDecoder().decode(o.stdout)) as { holds: number; overlaps: number };
    });
    assert.ok(results.reduce((n, r) => n + r.holds, 0) > 100, `slots were taken: ${JSON.stringify(results)}`);
    assert.deepEqual(results.map((r) => r.overlaps), [0, 0, 0, 0]);
    await Deno.remove(`${dir}-marks`, { recursive: true });
  });
});

Deno.test("local slots: another process's slot is refused while it lives and free once it is killed", async () => {
  await withSlotsDir(async (dir) => {
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const s = new (await import(${JSON.stringify(new URL("./worker_standby.ts", import.meta.url).href)}))` +
        `.LocalWorkerSlots(${JSON.stringify(dir)}, 1, "child").tryTake(); console.log(s ? "held" : "none"); ` +
        "await new Promise(() => setInterval(() => {}, 1000));",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value?.trim(), "held");
    assert.equal(new LocalWorkerSlots(dir, 1, "me").tryTake(), undefined);
    holder.kill("SIGKILL");
    await holder.status;
    await reader.cancel();
    const slot = new LocalWorkerSlots(dir, 1, "me").tryTake();
    assert.equal(slot?.index, 0, "the kernel dropped the killed holder's lock");
    slot!.release();
  });
});

Deno.test("waitForLocalSlot: stands by once, takes the slot when it frees, or returns undefined on abort", async () => {
  await withSlotsDir(async (dir) => {
    const held = new LocalWorkerSlots(dir, 1, "a").tryTake()!;
    let standbys = 0;
    const waiting = waitForLocalSlot(new LocalWorkerSlots(dir, 1, "b"), new AbortController().signal, {
      standby: () => standbys++,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    held.release();
    const taken = await waiting;
    assert.ok(taken && taken !== "unlimited" && taken.index === 0);
    assert.equal(standbys, 1);
    const stop = new AbortController();
    const aborted = waitForLocalSlot(new LocalWorkerSlots(dir, 1, "c"), stop.signal);
    stop.abort();
    assert.equal(await aborted, undefined);
    taken.release();
  });
});

Deno.test("takeLocalSlot: a standby's callback has settled when the slot is returned", async () => {
  await withSlotsDir(async (root) => {
    const options = { localWorkers: 1, storeUrl: "file:///s", readerUrl: "file:///b", holder: "h", slotsRoot: root };
    const signal = new AbortController().signal;
    const slots = await openLocalSlots(options);
    const first = await takeLocalSlot(slots, signal, () => Promise.reject(new Error("not called")));
    assert.ok(first && first !== "unlimited");
    const steps: string[] = [];
    const second = takeLocalSlot(slots, signal, async () => {
      steps.push("standby");
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // outlasts the next try
      steps.push("reader closed");
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    first.release();
    const taken = await second;
    steps.push("taken");
    assert.deepEqual(steps, ["standby", "reader closed", "taken"]);
    assert.ok(taken && taken !== "unlimited");
    taken.release();
  });
});

Deno.test("takeLocalSlot: 0 is no limit; an unusable folder runs without slots; one folder per pipeline", async () => {
  const signal = new AbortController().signal;
  const base = { storeUrl: "file:///s", readerUrl: "file:///b", holder: "h" };
  const unlimited = await openLocalSlots({ ...base, localWorkers: 0 });
  assert.equal(unlimited, "unlimited");
  assert.equal(await takeLocalSlot(unlimited, signal, () => Promise.resolve()), "unlimited");
  const file = await Deno.makeTempFile();
  try {
    const slots = new LocalWorkerSlots(`${file}/slots`, 1, "h"); // below a file: cannot be made
    assert.equal(await waitForLocalSlot(slots, signal), "unlimited");
  } finally {
    await Deno.remove(file);
  }
  const a = await localSlotsDir("file:///s", "file:///b", "/r");
  assert.match(a, /^\/r\/autopgo-workers-[0-9a-f]{16}$/);
  assert.notEqual(a, await localSlotsDir("file:///s", "file:///other", "/r"), "one folder per pipeline");
  assert.equal(localWorkersArg("0"), 0);
  assert.throws(() => localWorkersArg("1025"), /at most 1024/);
  assert.throws(() => localWorkersArg("-1"), /non-negative integer/);
});

Deno.test("local slots: a starting worker removes the idle slot files and empty folders that killed workers left", async () => {
  const root = await Deno.makeTempDir({ prefix: "autopgo-slots-root-" });
  try {
    const killed = `${root}/autopgo-workers-0000000000000001`, live = `${root}/autopgo-workers-0000000000000002`;
    const mine = `${root}/autopgo-workers-0000000000000003`, other = `${root}/not-autopgo`;
    for (const dir of [killed, mine, other]) {
      await Deno.mkdir(dir);
      await Deno.writeTextFile(`${dir}/slot-0`, "host:1\n"); // a holder killed with kill -9 leaves its file
    }
    const held = new LocalWorkerSlots(live, 2, "host:2").tryTake(); // slot-0 held by a running worker
    await Deno.writeTextFile(`${live}/slot-1`, "host:3\n"); // slot-1 left by a killed one
    assert.equal(sweepIdleSlotFolders(root, mine), 2);
    await assert.rejects(Deno.stat(killed), Deno.errors.NotFound, "an idle pipeline's folder is gone");
    assert.deepEqual([...Deno.readDirSync(live)].map((e) => e.name), ["slot-0"], "a held slot stays");
    assert.ok((await Deno.stat(`${mine}/slot-0`)).isFile, "the caller's own folder is left to its slots");
    assert.ok((await Deno.stat(`${other}/slot-0`)).isFile, "folders of other programs are not touched");
    assert.equal(new LocalWorkerSlots(live, 1, "host:4").tryTake(), undefined, "the running worker still holds slot-0");
    held!.release();
    assert.equal(sweepIdleSlotFolders(`${root}/missing`), 0, "a missing root is nothing to sweep");
    // A worker opening its slots sweeps first.
    await Deno.mkdir(killed);
    await Deno.writeTextFile(`${killed}/slot-0`, "host:1\n");
    const signal = new AbortController().signal;
    const slots = await openLocalSlots({
      storeUrl: "file:///s",
      readerUrl: "file:///b",
      holder: "h",
      localWorkers: 1,
      slotsRoot: root,
    });
    const slot = await takeLocalSlot(slots, signal, () => Promise.resolve());
    assert.equal(typeof slot === "object" && slot.index, 0);
    await assert.rejects(Deno.stat(killed), Deno.errors.NotFound, "swept by the starting worker");
    (slot as { release(): void }).release();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
