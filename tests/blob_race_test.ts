/**
 * Cross-process guarantees of the file:// drivers, with real OS processes
 * (tests/support/race_child.ts) started together on one directory:
 * - blob compare-and-swap: in every round exactly one ifVersion and one ifAbsent writer wins,
 *   the others get PreconditionFailedError, and the stored bytes are the winner's;
 * - read-modify-write loops over one counter from several processes lose no update;
 * - bus claims: no message (and no ordering key) is held by two consumers at once, per-key
 *   order holds, and every message is processed exactly once — including the one a killed
 *   consumer had claimed, which comes back after its lease.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { openFileBlobStore } from "../adapters/blob/file_blob.ts";
import { openFileEventWriter } from "../adapters/bus/file_bus.ts";
import { type CasResult, race, RaceChild } from "./support/race_process.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("file blob: processes racing conditional writes never both win", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-race-blob-" });
  const url = pathToFileURL(dir).href;
  const rounds = 40;
  const processes = 3;
  let children: RaceChild[] = [];
  try {
    const store = await openFileBlobStore(url);
    for (let r = 0; r < rounds; r++) await store.write(`cas/${r}`, enc("initial"));
    children = await race(Array.from({ length: processes }, (_, i) => ["cas", url, `p${i}`, String(rounds)]));
    const outputs = await Promise.all(children.map((c) => c.finish<{ id: string; results: CasResult[] }>()));
    for (const kind of ["cas", "absent"]) {
      for (let r = 0; r < rounds; r++) {
        const entries = outputs.map((o) => ({ id: o.id, ...o.results.find((x) => x.kind === kind && x.round === r)! }));
        const winners = entries.filter((e) => e.won);
        assert.equal(winners.length, 1, `${kind} round ${r}: ${JSON.stringify(entries)}`);
        for (const loser of entries.filter((e) => !e.won)) assert.equal(loser.error, "precondition");
        const stored = await store.read(`${kind}/${r}`);
        assert.equal(dec(stored.data), `${winners[0].id}:${r}`);
        assert.equal(stored.version, winners[0].version);
      }
    }
    const wins = outputs.map((o) => o.results.filter((x) => x.won).length);
    console.log(`wins per process over ${2 * rounds} contested writes: ${wins.join(", ")}`);
  } finally {
    for (const child of children) await child.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file blob: read-modify-write loops in several processes lose no update", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-race-counter-" });
  const url = pathToFileURL(dir).href;
  let children: RaceChild[] = [];
  try {
    const store = await openFileBlobStore(url);
    await store.write("counter", enc("0"));
    children = await race(Array.from({ length: 3 }, (_, i) => ["increment", url, `p${i}`, "30"]));
    const outputs = await Promise.all(children.map((c) => c.finish<{ conflicts: number }>()));
    assert.equal(dec((await store.read("counter")).data), "90");
    console.log(`retried conflicts: ${outputs.map((o) => o.conflicts).join(", ")}`);
  } finally {
    for (const child of children) await child.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file bus: consumer processes never share a delivery; a killed consumer's message comes back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-race-bus-" });
  const bus = join(dir, "bus");
  const marks = join(dir, "marks");
  await Deno.mkdir(marks);
  const url = pathToFileURL(bus).href;
  const total = 60;
  const keys = 4;
  let hung: RaceChild | undefined;
  let consumers: RaceChild[] = [];
  try {
    const writer = await openFileEventWriter(url);
    for (let n = 0; n < total; n++) await writer.send({ body: enc(`k${n % keys} ${n}`), orderingKey: `k${n % keys}` });
    await writer.close();
    hung = new RaceChild(["hang", `${url}?ackdeadline=1s`, "hung"]);
    const claimed = JSON.parse(await hung.line()) as { body: string };
    assert.equal(claimed.body, "k0 0");
    await hung.kill();
    consumers = await race(Array.from({ length: 3 }, (_, i) => ["consume", `${url}?poll=10ms`, `c${i}`, marks]));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const left = [...Deno.readDirSync(join(bus, "pending")), ...Deno.readDirSync(join(bus, "inflight"))];
      if (left.length === 0) break;
      assert.ok(Date.now() < deadline, `bus not drained: ${left.length} messages left`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const consumer of consumers) await consumer.closeStdin();
    type Result = { id: string; processed: string[]; violations: string[] };
    const outputs = await Promise.all(consumers.map((c) => c.finish<Result>()));
    assert.deepEqual(outputs.flatMap((o) => o.violations), []);
    const processed = outputs.flatMap((o) => o.processed).map((line) => Number(line.split(" ")[1]));
    assert.deepEqual(processed.sort((a, b) => a - b), Array.from({ length: total }, (_, n) => n));
    const log = (await Deno.readTextFile(join(marks, "log"))).trim().split("\n").map((l) => l.split(" "));
    for (let k = 0; k < keys; k++) {
      const order = log.filter(([key]) => key === `k${k}`).map(([, n]) => Number(n));
      assert.deepEqual(order, Array.from({ length: total / keys }, (_, i) => i * keys + k), `order of k${k}`);
    }
    console.log(`messages per consumer: ${outputs.map((o) => o.processed.length).join(", ")}`);
  } finally {
    await hung?.kill();
    for (const consumer of consumers) await consumer.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
