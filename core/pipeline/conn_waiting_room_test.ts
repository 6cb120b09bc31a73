/**
 * The connection guard's waiting room (conn_waiting_room.ts): first come first served as places
 * are found, bounded, let go after the wait, and checked again on its own while anybody waits;
 * clients take turns, and a full room makes room for a lighter client.
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

/** A room of capacity 3 whose connections are named `<client><n>` ("a1" comes from client "a"). */
function roomOfClients(places: { free: number }, held: Record<string, number> = {}) {
  return room(places, { clientOf: (c) => c[0], placesOf: (client) => held[client] ?? 0 });
}

Deno.test("waiting room: when full, a newcomer from another client takes the place of the newest waiting connection of the client waiting most", () => {
  const places = { free: 0 };
  const { waiting, admitted, expired } = roomOfClients(places);
  for (const c of ["a1", "a2", "a3"]) assert.equal(waiting.offer(c, 0), true);
  assert.equal(waiting.offer("a4", 0), false, "the client waiting most gets no more");
  assert.equal(waiting.offer("b1", 0), true);
  assert.deepEqual(expired, ["a3"], "a's newest was let go");
  assert.equal(waiting.offer("b2", 0), false, "a (2 waiting) no longer holds more than b would with one more");
  assert.equal(waiting.size, 3);
  places.free = 3;
  waiting.serve(10);
  assert.deepEqual(admitted, ["a1", "b1", "a2"], "clients in turn, each in the order its connections came");
  assert.equal(waiting.size, 0);
  assert.deepEqual(waiting.close(), []);
});

Deno.test("waiting room: places held count against a client when a full room chooses whom to let go", () => {
  const places = { free: 0 };
  const { waiting, expired } = roomOfClients(places, { b: 5 });
  for (const c of ["a1", "a2", "a3"]) waiting.offer(c, 0);
  assert.equal(waiting.offer("b1", 0), false, "b holds 5 places: more than a's 3 waiting");
  assert.equal(waiting.offer("c1", 0), true, "c holds nothing");
  assert.deepEqual(expired, ["a3"]);
  assert.deepEqual(waiting.close(), ["a1", "a2", "c1"]);
});

Deno.test("waiting room: without clients, or with no room at all, a full room takes nobody", () => {
  const places = { free: 0 };
  const { waiting } = room(places);
  for (const c of ["a1", "a2", "a3"]) waiting.offer(c, 0);
  assert.equal(waiting.offer("b1", 0), false);
  waiting.close();
  const none = room(places, { capacity: 0, clientOf: (c) => c[0] });
  assert.equal(none.waiting.offer("a1", 0), false);
  assert.deepEqual(none.expired, []);
});

Deno.test("waiting room: newcomers from many clients take the line down to one connection of the flood, in order", () => {
  const places = { free: 0 };
  const { waiting, admitted, expired } = room(places, { capacity: 100, clientOf: (c) => c.split("-")[0] });
  for (let i = 0; i < 100; i++) waiting.offer(`flood-${i}`, 0);
  // 10,000 newcomers, each from a client of its own, each taking the flood's newest place.
  let taken = 0;
  for (let i = 0; i < 10_000; i++) if (waiting.offer(`c${i}-0`, 0)) taken++;
  assert.equal(taken, 99, "until the flood is down to one waiting, like each newcomer");
  assert.equal(waiting.size, 100);
  assert.equal(expired.length, 99);
  places.free = 1_000;
  waiting.serve(1);
  assert.equal(admitted.length, 100);
  assert.deepEqual(admitted.slice(0, 2), ["flood-0", "c0-0"]);
  assert.equal(admitted.at(-1), "c98-0");
  waiting.close();
});

Deno.test("waiting room: the client's newest waiting connection is let go, also after others of it were admitted", () => {
  const places = { free: 0 };
  const { waiting, admitted, expired } = room(places, { capacity: 4, clientOf: (c) => c[0] });
  for (const c of ["a1", "b1", "a2", "a3"]) waiting.offer(c, 0);
  places.free = 1;
  waiting.serve(1); // a1 is admitted from the head
  assert.equal(waiting.offer("a4", 2), true);
  assert.equal(waiting.offer("c1", 3), true);
  assert.equal(waiting.offer("c2", 3), false, "a (2 waiting) holds no more than c would with one more");
  assert.equal(waiting.offer("d1", 4), true);
  assert.equal(waiting.offer("e1", 5), false, "every client waits with one");
  assert.deepEqual(expired, ["a4", "a3"], "a's newest first");
  places.free = 10;
  waiting.serve(6);
  assert.deepEqual(admitted, ["a1", "b1", "a2", "c1", "d1"]);
  assert.deepEqual(waiting.close(), []);
});

Deno.test("waiting room: clients take turns, so another client's newcomer waits for one place, not for the whole line", () => {
  const places = { free: 0 };
  const { waiting, admitted } = room(places, { capacity: 100, clientOf: (c) => c[0] });
  for (let i = 1; i <= 50; i++) waiting.offer(`a${i}`, 0);
  waiting.offer("b1", 1);
  waiting.offer("b2", 1);
  places.free = 3;
  waiting.serve(2);
  assert.deepEqual(admitted, ["a1", "b1", "a2"]);
  places.free = 1;
  waiting.serve(3);
  assert.deepEqual(admitted.at(-1), "b2");
  assert.equal(waiting.size, 48);
  assert.deepEqual(waiting.close().slice(0, 2), ["a3", "a4"]);
});

Deno.test("waiting room: a connection past its wait is let go from any client's line, not only the one whose turn it is", () => {
  const places = { free: 0 };
  const { waiting, expired } = room(places, { capacity: 10, waitMs: 100, checkEveryMs: 50, clientOf: (c) => c[0] });
  waiting.offer("a1", 0);
  waiting.offer("b1", 0);
  waiting.offer("a2", 90);
  waiting.serve(150); // no place: a's turn comes first, and b1 waited its 100 ms too
  assert.deepEqual(expired.sort(), ["a1", "b1"]);
  assert.equal(waiting.size, 1);
  waiting.close();
});
