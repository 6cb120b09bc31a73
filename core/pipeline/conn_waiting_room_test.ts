/**
 * The connection guard's waiting room (conn_waiting_room.ts): first come first served as places
 * are found, bounded, let go after the wait, and checked again on its own while anybody waits.
 *
 * @module
 */

import assert from "node:assert/strict";
import { WaitingRoom, type WaitingRoomOptions } from "./conn_waiting_room.ts";

function room(places: { free: number }, overrides: Partial<WaitingRoomOptions<string>> = {}) {
  const admitted: string[] = [], expired: string[] = [];
  const waiting = new WaitingRoom<string>({
    capacity: 3,
    waitMs: 1_000,
    checkEveryMs: 10,
    findPlace: () => places.free > 0 && places.free-- > 0,
    admit: (c) => admitted.push(c),
    expire: (c) => expired.push(c),
    ...overrides,
  });
  return { waiting, admitted, expired };
}

Deno.test("waiting room: connections get places in the order they came, and a full room takes no more", () => {
  const places = { free: 0 };
  const { waiting, admitted } = room(places);
  for (const c of ["a", "b", "c"]) assert.equal(waiting.offer(c, 0), true);
  assert.equal(waiting.offer("d", 0), false, "full");
  places.free = 2;
  waiting.serve(10);
  assert.deepEqual(admitted, ["a", "b"]);
  assert.equal(waiting.size, 1);
  assert.equal(waiting.offer("e", 20), true);
  assert.deepEqual(waiting.close(), ["c", "e"]);
  assert.equal(waiting.size, 0);
});

Deno.test("waiting room: a connection waiting past its time is let go, not admitted", () => {
  const places = { free: 0 };
  const { waiting, admitted, expired } = room(places);
  waiting.offer("early", 0);
  waiting.offer("late", 600);
  places.free = 5;
  waiting.serve(1_000); // "early" waited its 1,000 ms
  assert.deepEqual(expired, ["early"]);
  assert.deepEqual(admitted, ["late"]);
  assert.equal(places.free, 4, "no place spent on the one let go");
  waiting.close();
});

Deno.test("waiting room: while anybody waits, places are looked for again on a timer", async () => {
  const places = { free: 0 };
  const { waiting, admitted } = room(places);
  waiting.offer("a", Date.now());
  places.free = 1;
  for (let i = 0; i < 50 && admitted.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(admitted, ["a"]);
  waiting.close();
});

Deno.test("waiting room: a place freed while admitting is taken by the same pass", () => {
  const places = { free: 1 };
  const admitted: string[] = [];
  const waiting: WaitingRoom<string> = new WaitingRoom<string>({
    capacity: 4,
    waitMs: 1_000,
    checkEveryMs: 10,
    findPlace: () => places.free > 0 && places.free-- > 0,
    admit: (c) => {
      admitted.push(c);
      places.free++; // this one left at once, and tells the room
      waiting.serve(0);
    },
    expire: () => {},
  });
  places.free = 0;
  waiting.offer("a", 0);
  waiting.offer("b", 0);
  places.free = 1;
  waiting.serve(0);
  assert.deepEqual(admitted, ["a", "b"]);
  waiting.close();
});
