/**
 * Slow clients holding every connection place of a real `autopgo server` on 127.0.0.1
 * (slowloris heads and trickled bodies, reconnected as soon as the server closes them) must not
 * lock other clients out: at the cap, a newcomer waits in line (core/pipeline/conn_waiting_room.ts)
 * for the place of a stalling connection (core/pipeline/conn_pressure.ts). Before, every request of other clients was answered 503
 * for as long as the slow clients kept at it.
 *
 * @module
 */

import assert from "node:assert/strict";
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
