/**
 * Slow clients holding every connection place of a real `autopgo server` on 127.0.0.1
 * (slowloris heads and trickled bodies, reconnected as soon as the server closes them) must not
 * lock other clients out: at the cap, a newcomer waits in line (core/pipeline/conn_waiting_room.ts)
 * for the place of a stalling connection (core/pipeline/conn_pressure.ts). Before, every request of
 * other clients was answered 503 for as long as the slow clients kept at it. With more slow
 * connections than the places and the room together, a client from another address takes the room
 * place of the newest slow one and gets the next place in turn; before, it was answered 503 whenever it
 * came.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "node:net";
import { startAutopgoServer } from "./support/autopgo_processes.ts";
import { readUntilClosed } from "./support/raw_connection.ts";
import { slowClients } from "./support/slow_clients.ts";

const encoder = new TextEncoder();

/** Sends `head` (then `body`) on a new connection and returns the status line of the answer. */
async function statusLine(port: number, head: string, body = new Uint8Array()): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new Uint8Array([...encoder.encode(head), ...body]));
  return (await readUntilClosed(conn, 10_000)).text.split("\r\n")[0];
}

Deno.test("hardening: slow clients holding every connection place do not lock other clients out", async () => {
  const server = await startAutopgoServer(["--max-connections", "40", "--header-timeout", "60s"]);
  const port = Number(new URL(server.url).port);
  const slow = slowClients(port, 60, 500);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // every place taken, and past its grace
    const profile = await Deno.readFile(new URL("./fixtures/profiles/cpu-000.pb.gz", import.meta.url));
    for (let i = 0; i < 10; i++) {
      const started = Date.now();
      const ready = await statusLine(port, "GET /api/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assert.equal(ready, "HTTP/1.1 200 OK", `ready, round ${i}`);
      // Behind the slow clients already waiting: places turn over about once per second.
      assert.ok(Date.now() - started < 5_000, `ready answered in ${Date.now() - started} ms, round ${i}`);
    }
    const uploaded = await statusLine(
      port,
      `POST /api/profile/fair HTTP/1.1\r\nHost: x\r\nContent-Length: ${profile.length}\r\nConnection: close\r\n\r\n`,
      profile,
    );
    assert.equal(uploaded, "HTTP/1.1 201 Created", "an upload from another client is taken");
  } finally {
    const opened = await slow.stop();
    assert.ok(opened > 60, `the slow clients reconnected (${opened} connections)`);
    assert.equal(await server.close(), 0);
  }
});

/** Sends `request` from `localAddress` (another loopback address) and returns the status line of the answer. */
function statusLineFrom(localAddress: string, port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    const chunks: Uint8Array[] = [];
    const timer = setTimeout(() => socket.destroy(new Error("no answer within 30 s")), 30_000);
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(chunks.map((chunk) => new TextDecoder().decode(chunk)).join("").split("\r\n")[0]);
    });
  });
}

Deno.test("hardening: a client holding every place and the whole line does not lock out clients from other addresses", async () => {
  // 20 places and a room of 160 (eight times the places): 400 slow connections keep both full.
  const server = await startAutopgoServer(["--max-connections", "20", "--header-timeout", "30s"]);
  const port = Number(new URL(server.url).port);
  const slow = slowClients(port, 400, 500, 10, "heads");
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const ready = await statusLineFrom(
        "127.0.0.2",
        port,
        "GET /api/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      assert.equal(ready, "HTTP/1.1 200 OK", `ready from another address, round ${i}`);
      // Its own line, and its turn at the next place: not behind the 160 slow connections waiting
      // (places turn over about once per second, so 8 s at the end of one line).
      assert.ok(Date.now() - started < 5_000, `ready answered in ${Date.now() - started} ms, round ${i}`);
    }
  } finally {
    await slow.stop();
    assert.equal(await server.close(), 0);
  }
});
