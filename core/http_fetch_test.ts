/**
 * Tests of core/http_fetch.ts against real listeners on 127.0.0.1: ports the global `fetch`
 * blocks, streaming in both directions, abort signals and timeouts, redirects and errors.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import { gzipSync } from "node:zlib";
import { nodeFetch } from "./http_fetch.ts";
import { bodySnippet, readBodyPrefix } from "./body_read.ts";

/** Serves `handler` on 127.0.0.1:`port` (0: any) for the duration of `fn`. */
async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (base: string) => Promise<void>,
  port = 0,
): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port, signal: ac.signal, onListen: () => {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

/** A deferred promise. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

for (const port of [6666, 6000]) {
  Deno.test(`nodeFetch reaches port ${port}, which the global fetch blocks`, async () => {
    await withServer(async (req) => Response.json({ method: req.method, body: await req.text() }), async (base) => {
      const blocked = await fetch(`${base}/`).then((r) => r.body?.cancel(), (e: Error) => e);
      if (blocked instanceof Error) assert.match(blocked.message, /blocked/);
      const res = await nodeFetch(`${base}/x`, { method: "POST", body: "hello" });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { method: "POST", body: "hello" });
    }, port);
  });
}

Deno.test("nodeFetch streams a request body: the server sees chunk 1 before chunk 2 is produced", async () => {
  const firstArrived = deferred();
  await withServer(async (req) => {
    const chunks: string[] = [];
    for await (const chunk of req.body!.pipeThrough(new TextDecoderStream())) {
      chunks.push(chunk);
      if (chunks.join("").includes("one;")) firstArrived.resolve();
    }
    return new Response(chunks.join(""), { status: 201 });
  }, async (base) => {
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        step++;
        if (step === 1) controller.enqueue(new TextEncoder().encode("one;"));
        else if (step === 2) {
          await firstArrived.promise;
          controller.enqueue(new TextEncoder().encode("two;"));
        } else controller.close();
      },
    });
    const res = await nodeFetch(`${base}/up`, { method: "POST", body });
    assert.equal(res.status, 201);
    assert.equal(await res.text(), "one;two;");
  });
});

Deno.test("nodeFetch: a large streamed request body against a slow reader leaves no listeners behind", async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => void warnings.push(`${warning.name}: ${warning.message}`);
  process.on("warning", onWarning);
  try {
    await withServer(async (req) => {
      let bytes = 0;
      for await (const chunk of req.body!) {
        bytes += chunk.byteLength;
        await new Promise((resolve) => setTimeout(resolve, 1)); // slower than the client writes
      }
      return new Response(String(bytes), { status: 201 });
    }, async (base) => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ === 256) return controller.close();
          controller.enqueue(new Uint8Array(64 * 1024));
        },
      });
      const res = await nodeFetch(`${base}/up`, { method: "POST", body });
      assert.equal(await res.text(), String(256 * 64 * 1024));
    });
    await new Promise((resolve) => setTimeout(resolve, 10)); // warnings are emitted on a later tick
  } finally {
    process.off("warning", onWarning);
  }
  assert.deepEqual(warnings.filter((w) => w.includes("MaxListeners")), []);
});

Deno.test("nodeFetch streams a response body: chunk 1 is readable before the server sends chunk 2", async () => {
  const clientGotFirst = deferred();
  await withServer(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("first"));
          await clientGotFirst.promise;
          controller.enqueue(new TextEncoder().encode("second"));
          controller.close();
        },
      }),
    ), async (base) => {
    const res = await nodeFetch(`${base}/down`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "first");
    clientGotFirst.resolve();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    assert.equal(rest, "second");
  });
});

Deno.test("nodeFetch rejects with the signal's reason: abort before the head, timeout, and mid-body", async () => {
  const never = deferred();
  const release = deferred();
  await withServer((req) => {
    if (new URL(req.url).pathname === "/hang") return never.promise.then(() => new Response("late"));
    return new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new Uint8Array([1]));
          await release.promise;
          controller.close();
        },
      }),
    );
  }, async (base) => {
    const ac = new AbortController();
    const pending = nodeFetch(`${base}/hang`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(pending, (e: Error) => e.name === "AbortError");

    await assert.rejects(
      nodeFetch(`${base}/hang`, { signal: AbortSignal.timeout(100) }),
      (e: Error) => e.name === "TimeoutError",
    );

    const mid = new AbortController();
    const res = await nodeFetch(`${base}/slow`, { signal: mid.signal });
    const reader = res.body!.getReader();
    assert.deepEqual((await reader.read()).value, new Uint8Array([1]));
    mid.abort(new Error("stop reading"));
    await assert.rejects(reader.read(), /stop reading/);

    const aborted = AbortSignal.abort();
    await assert.rejects(nodeFetch(`${base}/slow`, { signal: aborted }), (e: Error) => e.name === "AbortError");
    release.resolve();
    never.resolve();
  });
});

Deno.test("nodeFetch follows redirects like fetch and drops credentials across origins", async () => {
  const seen: string[] = [];
  await withServer((other) => {
    const h = other.headers;
    seen.push(`other ${other.method} auth=${h.get("authorization")}`);
    seen.push(`other cookie=${h.get("cookie")} proxy=${h.get("proxy-authorization")} key=${h.get("x-api-key")}`);
    return new Response("elsewhere");
  }, async (otherBase) => {
    await withServer(async (req) => {
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname} auth=${req.headers.get("authorization")} body=${await req.text()}`);
      if (url.pathname === "/moved") return Response.redirect(`${url.origin}/here`, 302);
      if (url.pathname === "/post") return Response.redirect(`${url.origin}/here`, 303);
      if (url.pathname === "/away") return Response.redirect(`${otherBase}/there`, 307);
      return new Response("here");
    }, async (base) => {
      const auth = { authorization: "Bearer t", cookie: "s=1", "proxy-authorization": "Basic eA==", "x-api-key": "k" };
      assert.equal(await (await nodeFetch(`${base}/moved`, { headers: auth })).text(), "here");
      assert.equal(await (await nodeFetch(`${base}/post`, { method: "POST", body: "x" })).text(), "here");
      assert.equal(await (await nodeFetch(`${base}/away`, { headers: auth })).text(), "elsewhere");
      const manual = await nodeFetch(`${base}/moved`, { redirect: "manual" });
      assert.equal(manual.status, 302);
      await manual.body?.cancel();
      const streamed = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array([1]));
          c.close();
        },
      });
      await assert.rejects(nodeFetch(`${base}/away`, { method: "PUT", body: streamed }), /stream/);
    });
  });
  assert.deepEqual(seen.slice(0, 8), [
    "GET /moved auth=Bearer t body=",
    "GET /here auth=Bearer t body=",
    "POST /post auth=null body=x",
    "GET /here auth=null body=",
    "GET /away auth=Bearer t body=",
    "other GET auth=null",
    "other cookie=null proxy=null key=k", // as Go's client: credentials stay, other headers go on
    "GET /moved auth=null body=",
  ]);
});

Deno.test("readBodyPrefix reads at most its limit of an endless body, and says so", async () => {
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(1000).fill(65));
    },
  });
  const cut = await readBodyPrefix(new Response(endless), 2500);
  assert.deepEqual([cut.bytes.byteLength, cut.complete], [2500, false]);
  assert.ok(pulled <= 4, `pulled ${pulled} chunks`);
  const whole = await readBodyPrefix(new Response("short"), 2500);
  assert.deepEqual([new TextDecoder().decode(whole.bytes), whole.complete], ["short", true]);
  assert.equal(await bodySnippet(new Response("x".repeat(10_000)), 10), "xxxxxxxxxx");
});

Deno.test("nodeFetch gives null bodies to HEAD, 204 and 304, and decodes a gzip body", async () => {
  await withServer(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/empty") return new Response(null, { status: 204 });
    if (path === "/same") return new Response(null, { status: 304, headers: { etag: '"1"' } });
    const gz = await new Response(
      new Blob(["compressed text"]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer();
    return new Response(gz, { headers: { "content-encoding": "gzip" } });
  }, async (base) => {
    const head = await nodeFetch(`${base}/gz`, { method: "HEAD" });
    assert.equal(head.body, null);
    assert.equal((await nodeFetch(`${base}/empty`)).status, 204);
    const same = await nodeFetch(`${base}/same`);
    assert.equal(same.status, 304);
    assert.equal(same.headers.get("etag"), '"1"');
    assert.equal(await (await nodeFetch(`${base}/gz`)).text(), "compressed text");
  });
});

Deno.test("nodeFetch decodes a gzip bomb in small chunks, inflating only what the reader takes", async () => {
  // 64 KiB of gzip that inflates to 64 MiB, sent again and again (a hostile target).
  const member = gzipSync(new Uint8Array(64 << 20));
  let sent = 0;
  await withServer(() => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += member.length;
        controller.enqueue(member);
      },
    });
    return new Response(body, { headers: { "content-encoding": "gzip" } });
  }, async (base) => {
    const reader = (await nodeFetch(`${base}/bomb`)).body!.getReader();
    let read = 0, largest = 0;
    while (read < 8 << 20) {
      const { value } = await reader.read();
      read += value!.byteLength;
      largest = Math.max(largest, value!.byteLength);
    }
    await reader.cancel();
    assert.ok(largest <= 64 * 1024, `largest decoded chunk ${largest} bytes`);
    // Each member inflates to 64 MiB: had the inflater taken everything the connection offered,
    // the reader would have been handed it. What was sent is what the sockets' buffers hold.
    assert.ok(sent <= 16 << 20, `${sent} compressed bytes sent for 8 MiB read`);
  });
});

Deno.test("nodeFetch: a corrupt gzip body is a TypeError naming the encoding; a timeout mid-body stays a TimeoutError", async () => {
  await withServer((req) => {
    if (new URL(req.url).pathname === "/corrupt") {
      return new Response(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]), {
        headers: { "content-encoding": "gzip" },
      });
    }
    const head = gzipSync(new TextEncoder().encode("the start")).subarray(0, 12);
    const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(head) }); // never ends
    return new Response(body, { headers: { "content-encoding": "gzip" } });
  }, async (base) => {
    await assert.rejects((await nodeFetch(`${base}/corrupt`)).arrayBuffer(), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^decoding the gzip body: /);
      return true;
    });
    const res = await nodeFetch(`${base}/stalls`, { signal: AbortSignal.timeout(300) });
    await assert.rejects(res.arrayBuffer(), (e: Error) => e.name === "TimeoutError");
  });
});

Deno.test("nodeFetch turns a refused connection into a one-line TypeError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(nodeFetch(`http://127.0.0.1:${port}/`), (e: Error) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /ECONNREFUSED/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  await assert.rejects(nodeFetch("ftp://127.0.0.1/"), /unsupported URL scheme ftp:/);
});

Deno.test("nodeFetch reports a body cut short by the server as an error, not as a complete body", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b"));
    conn.close();
  })();
  try {
    const res = await nodeFetch(`http://127.0.0.1:${listener.addr.port}/`);
    await assert.rejects(res.arrayBuffer());
  } finally {
    await serving;
    listener.close();
  }
});
