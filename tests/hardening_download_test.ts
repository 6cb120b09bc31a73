/**
 * Hostile downloads against a real `autopgo server` process on 127.0.0.1: clients that ask for an
 * app's base after each merge and never read the answer. Each held a whole version of the base
 * (ten such clients of a 40 MiB base: 418 MiB of the server's memory, measured before the fix);
 * now the bytes all downloads being sent hold are bounded by `--max-download-memory`, and a
 * download past it is answered 503 with `Retry-After` before the base is read.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openFileBlobStore } from "../adapters/blob/file_blob.ts";
import { eventually, startAutopgoServer } from "./support/autopgo_processes.ts";
import { rssMiB } from "./support/hostile_run.ts";
import { closeAll, readResponseHead } from "./support/raw_connection.ts";

Deno.test("hardening: stalled downloads of new versions cannot hold more than --max-download-memory", async () => {
  const server = await startAutopgoServer(["--max-download-memory", "32MiB"]);
  const store = await openFileBlobStore(new URL(`file://${server.dataDir}`));
  const conns: Deno.Conn[] = [];
  try {
    const port = Number(new URL(server.url).port);
    const base = new Uint8Array(24 << 20);
    const before = rssMiB(server.child.pid);
    const statuses: string[] = [];
    for (let version = 0; version < 6; version++) {
      // A new version of the base, as a merge writes it (the store's own bytes are not checked here).
      base.fill(version, 0, 4096);
      await store.write("stalled/default.pgo", base);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      await conn.write(new TextEncoder().encode("GET /api/profile/stalled HTTP/1.1\r\nHost: x\r\n\r\n"));
      const head = await readResponseHead(conn, 10_000);
      statuses.push(head.text.split("\r\n")[0]);
      if (version > 0) {
        assert.match(head.text, /retry-after: \d+/i);
      }
    }
    assert.deepEqual(statuses, [
      "HTTP/1.1 200 OK",
      ...Array(5).fill("HTTP/1.1 503 Service Unavailable"),
    ], "the first stalled download holds its version; the next versions do not fit beside it");
    const grown = rssMiB(server.child.pid) - before;
    assert.ok(grown < 70, `one version held, the refused ones never read: RSS grew ${grown.toFixed(0)} MiB`);
    // The refusal says why, and the server answers everything else meanwhile.
    const refused = await fetch(`${server.url}/api/profile/stalled`);
    assert.equal(refused.status, 503);
    assert.match((await refused.json()).message, /--max-download-memory/);
    assert.equal(await fetch(`${server.url}/api/health`).then((r) => r.body?.cancel().then(() => r.status)), 200);
    // Once the stalled client goes, its version is let go and the current one downloads whole.
    conns[0].close();
    const served = await eventually("the download is served once the stalled one is gone", async () => {
      const response = await fetch(`${server.url}/api/profile/stalled`);
      const body = new Uint8Array(await response.arrayBuffer());
      return response.status === 200 && body;
    }, 10_000);
    assert.deepEqual(served, base);
  } finally {
    closeAll(conns);
    await store.close();
    await server.close();
  }
});
