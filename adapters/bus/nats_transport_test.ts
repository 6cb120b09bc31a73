/**
 * The guarded NATS transport against plain TCP servers that reset, stall and close connections at
 * the handshake gaps where the client's own transport has no listener on its socket.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createServer, type Server, Socket } from "node:net";
import { connectGuarded, GuardedNatsTransport, guardSocket } from "./nats_transport.ts";

/** A TCP server on 127.0.0.1 that hands each accepted socket to `onSocket`. */
async function tcpServer(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on("error", () => {/* the client's side is what is tested */});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Polls `condition` every 10 ms for up to `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  for (const deadline = Date.now() + ms; !condition(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

Deno.test("guardSocket: an error after removeAllListeners() is remembered, not thrown", () => {
  const plain = new Socket();
  assert.throws(() => plain.emit("error", new Error("read ECONNRESET")), /ECONNRESET/, "what the guard prevents");
  const guarded = guardSocket(new Socket());
  guarded.removeAllListeners();
  guarded.removeAllListeners("error");
  assert.doesNotThrow(() => guarded.emit("error", new Error("read ECONNRESET")));
  guarded.removeAllListeners("data"); // other events keep the guard too
  assert.equal(guarded.listenerCount("error"), 1);
  guarded.destroy();
});

/**
 * Dials a server with a fresh transport, removes every socket listener (as the client does between
 * handshake steps), has the server reset the connection in that gap, then runs `after`.
 */
async function resetInGap(after: (transport: GuardedNatsTransport) => Promise<void>): Promise<void> {
  const accepted: Socket[] = [];
  const { server, port } = await tcpServer((socket) => accepted.push(socket));
  const transport = new GuardedNatsTransport();
  try {
    const socket = await transport.dial({ hostname: "127.0.0.1", port });
    transport.socket = socket;
    socket.removeAllListeners();
    await until(() => accepted.length === 1, 2_000, "the connection");
    accepted[0].resetAndDestroy();
    await until(() => socket.destroyed, 2_000, "the reset");
    await after(transport);
  } finally {
    transport.discard();
    server.close();
  }
}

Deno.test("nats transport: a reset between TCP connect and INFO fails the handshake instead of the process", async () => {
  await resetInGap(async (transport) => {
    await assert.rejects(transport.peekInfo(), /ECONNRESET|closed/);
  });
});

Deno.test("nats transport: a socket that died before its handlers were set becomes a disconnect", async () => {
  await resetInGap(async (transport) => {
    transport.connected = true; // as connect() sets it just before attaching the handlers
    transport.setupHandlers();
    const closedWith = await Promise.race([transport.closed(), new Promise((r) => setTimeout(() => r("open"), 2_000))]);
    assert.ok(closedWith instanceof Error, `closed() resolved with ${String(closedWith)}`);
    assert.equal(transport.isClosed, true);
  });
});

Deno.test("nats transport: a handshake that times out closes its socket", async () => {
  const closed: boolean[] = [];
  const { server, port } = await tcpServer((socket) => {
    const index = closed.push(false) - 1;
    socket.on("close", () => closed[index] = true); // never sends INFO
  });
  try {
    await assert.rejects(connectGuarded({ servers: `127.0.0.1:${port}`, timeout: 300, reconnect: false }));
    await until(() => closed.length === 1 && closed[0], 3_000, "the client to close its socket");
  } finally {
    server.close();
  }
});

Deno.test("nats transport: a client whose server resets established connections reconnects and stays alive", async () => {
  const INFO = 'INFO {"server_id":"fake","version":"2.10.0","proto":1,"max_payload":1048576,"headers":true}\r\n';
  let connections = 0;
  const { server, port } = await tcpServer((socket) => {
    connections++;
    socket.write(INFO);
    socket.on("data", (data) => {
      if (String(data).includes("PING")) socket.write("PONG\r\n", () => setTimeout(() => socket.resetAndDestroy(), 20));
    });
  });
  const nc = await connectGuarded({
    servers: `127.0.0.1:${port}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 10,
    timeout: 500,
  });
  try {
    await until(() => connections >= 5, 10_000, "five reconnects");
    assert.equal(nc.isClosed(), false);
  } finally {
    await nc.close();
    server.close();
  }
});
