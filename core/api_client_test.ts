import assert from "node:assert/strict";
import { ApiClient, ApiError, MAX_JSON_ANSWER_BYTES, readAnswer } from "./api_client.ts";
import { noRouteMessage } from "./api_answers.ts";

/** Serves `handler` on 127.0.0.1:0 for the duration of `fn`. */
async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

Deno.test("api client keeps the --api-url path prefix on every route", async () => {
  const seen: string[] = [];
  await withServer(async (req) => {
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname}`);
    if (req.method === "POST") {
      await req.arrayBuffer();
      return Response.json({ key: "x/staging/1" }, { status: 201 });
    }
    if (req.method === "DELETE") return Response.json({});
    if (url.pathname.endsWith("/api/profile")) return Response.json({ profiles: [] });
    return new Response(new Uint8Array([1, 2, 3]));
  }, async (base) => {
    const client = new ApiClient({ baseUrl: `${base}/autopgo/` });
    assert.deepEqual(await client.upload("x", new Uint8Array([1])), { key: "x/staging/1" });
    const dl = await client.download("x");
    assert.equal(dl.notModified, false);
    if (!dl.notModified) {
      assert.deepEqual(new Uint8Array(await new Response(dl.body).arrayBuffer()), new Uint8Array([1, 2, 3]));
    }
    assert.deepEqual(await client.list(), []);
    await client.delete("x");
  });
  assert.deepEqual(seen, [
    "POST /autopgo/api/profile/x",
    "GET /autopgo/api/profile/x",
    "GET /autopgo/api/profile",
    "DELETE /autopgo/api/profile/x",
  ]);
});

Deno.test("api client listing: the rejected array is read when present and empty from older servers", async () => {
  let body: unknown = { profiles: [{ key: "a", size: 1, lastModified: "2026-01-01T00:00:00Z" }] };
  await withServer(() => Response.json(body), async (base) => {
    const client = new ApiClient({ baseUrl: base });
    assert.deepEqual((await client.listing()).rejected, []);
    body = {
      profiles: [],
      rejected: [{ key: "v", count: 2, bases: 1, lastReason: "why", lastRejectedAt: "2026-01-02T00:00:00Z" }],
    };
    assert.deepEqual(await client.listing(), {
      profiles: [],
      rejected: [{ key: "v", count: 2, bases: 1, lastReason: "why", lastRejectedAt: new Date("2026-01-02T00:00:00Z") }],
    });
    body = { profiles: [], rejected: [{ key: "v" }] };
    await assert.rejects(client.listing(), /rejected entry 0 is malformed/);
  });
});

Deno.test("api client turns JSON and non-JSON error bodies into one line with the status", async () => {
  await withServer((req) => {
    if (req.method === "DELETE") return new Response("404 page not found\n", { status: 404 });
    if (req.method === "POST") return Response.json({ message: "invalid app name", code: 400 }, { status: 400 });
    return new Response("<html>\n<body>Bad Gateway</body>\n</html>", { status: 502 });
  }, async (base) => {
    const client = new ApiClient({ baseUrl: base });
    await assert.rejects(client.delete("x"), (e: ApiError) => {
      assert.equal(e.status, 404);
      assert.match(
        e.message,
        /^delete x: server answered 404 Not Found: 404 page not found \(no autopgo API at http:\/\/127\.0\.0\.1:\d+\/api\/profile\/x\)$/,
      );
      return true;
    });
    await assert.rejects(
      client.upload("x", new Uint8Array([1])),
      /upload x: server answered 400 Bad Request: invalid app name$/,
    );
    await assert.rejects(client.list(), (e: ApiError) => {
      assert.equal(e.status, 502);
      assert.ok(!e.message.includes("\n"));
      assert.match(e.message, /list profiles: server answered 502 Bad Gateway: <html> <body>Bad Gateway/);
      return true;
    });
  });
});

Deno.test("api client sends the bearer token only when set", async () => {
  const auth: (string | null)[] = [];
  const fakeFetch: typeof fetch = (input, init) => {
    auth.push(new Request(input, init).headers.get("authorization"));
    return Promise.resolve(Response.json({ profiles: [] }));
  };
  await new ApiClient({ baseUrl: "http://h", token: "s3cret", fetch: fakeFetch }).list();
  await new ApiClient({ baseUrl: "http://h", fetch: fakeFetch }).list();
  assert.deepEqual(auth, ["Bearer s3cret", null]);
});

Deno.test("api client streams upload bodies instead of buffering them", async () => {
  const chunk = new Uint8Array(64 * 1024).fill(7);
  let firstChunkArrived!: () => void;
  const arrived = new Promise<void>((r) => firstChunkArrived = r);
  let produced = 0;
  // After the first chunk, the producer waits until the server has received bytes: a client
  // that buffered the whole body before sending would deadlock here (and time out).
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (produced > 0) await arrived;
      if (produced === 64) return controller.close();
      produced++;
      controller.enqueue(chunk);
    },
  });
  let received = 0;
  let contentLength: string | null = "unset";
  await withServer(async (req) => {
    contentLength = req.headers.get("content-length");
    for await (const part of req.body!) {
      received += part.byteLength;
      firstChunkArrived();
    }
    return Response.json({ key: "big/staging/1" }, { status: 201 });
  }, async (base) => {
    const result = await new ApiClient({ baseUrl: base, timeoutMs: 10_000 }).upload("big", body);
    assert.equal(result.key, "big/staging/1");
  });
  assert.equal(received, 64 * chunk.byteLength);
  assert.equal(contentLength, null, "a streamed body has no Content-Length");
});

Deno.test("api client applies per-request timeouts and reports them clearly", async () => {
  await withServer(async () => {
    await new Promise((r) => setTimeout(r, 1500));
    return Response.json({ profiles: [] });
  }, async (base) => {
    const client = new ApiClient({ baseUrl: base, timeoutMs: 5000 });
    await assert.rejects(client.list({ timeoutMs: 100 }), (e: ApiError) => {
      assert.equal(e.status, 0);
      assert.match(e.message, /^list profiles: no answer from http:\/\/127\.0\.0\.1:\d+ within 100ms$/);
      return true;
    });
  });
});

Deno.test("api client download honours If-None-Match / 304", async () => {
  await withServer((req) => {
    if (req.headers.get("if-none-match") === `"v1"`) {
      return new Response(null, { status: 304, headers: { etag: `"v1"` } });
    }
    return new Response(new Uint8Array([9]), { headers: { etag: `"v1"`, "content-length": "1" } });
  }, async (base) => {
    const client = new ApiClient({ baseUrl: base });
    const first = await client.download("x");
    assert.equal(first.notModified, false);
    assert.equal(first.etag, `"v1"`);
    if (!first.notModified) {
      assert.equal(first.size, 1);
      await first.body.cancel();
    }
    const second = await client.download("x", { ifNoneMatch: first.etag });
    assert.deepEqual(second, { notModified: true, etag: `"v1"` });
  });
});

Deno.test("api client parses the list and rejects malformed entries", async () => {
  const entries: unknown[] = [{ key: "a", size: 10, lastModified: "2024-10-28T12:16:34.964123456Z" }];
  const fakeFetch: typeof fetch = () => Promise.resolve(Response.json({ profiles: entries }));
  const client = new ApiClient({ baseUrl: "http://h", fetch: fakeFetch });
  const list = await client.list();
  assert.equal(list[0].key, "a");
  assert.equal(list[0].size, 10);
  assert.equal(list[0].lastModified.toISOString(), "2024-10-28T12:16:34.964Z");
  entries.push({ key: "b", size: "big" });
  await assert.rejects(client.list(), /entry 1 is malformed/);
});

Deno.test("api client rejects base URLs that are not http(s)", () => {
  assert.throws(() => new ApiClient({ baseUrl: "localhost:8080" }), /invalid API URL/);
  assert.throws(() => new ApiClient({ baseUrl: "not a url" }), /invalid API URL/);
  assert.equal(new ApiClient({ baseUrl: "https://h/p/" }).profileUrl("a-b").href, "https://h/p/api/profile/a-b");
});

Deno.test("api client reports unreachable servers in one line", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    new ApiClient({ baseUrl: `http://127.0.0.1:${port}` }).delete("x"),
    (e: ApiError) =>
      e.status === 0 && /^delete x: cannot reach http:\/\/127\.0\.0\.1:\d+: /.test(e.message) &&
      !e.message.includes("\n"),
  );
});

Deno.test("api client retries transient upload failures with one Idempotency-Key, and never a stream", async () => {
  const keys: string[] = [];
  const waits: number[] = [];
  let calls = 0;
  const fetchStub: typeof fetch = (_input, init) => {
    keys.push(new Headers(init?.headers).get("idempotency-key") ?? "");
    calls++;
    if (calls === 1) return Promise.reject(new TypeError("connection refused"));
    if (calls === 2) {
      return Promise.resolve(
        new Response(JSON.stringify({ message: "busy", code: 503 }), { status: 503, headers: { "retry-after": "2" } }),
      );
    }
    return Promise.resolve(new Response(JSON.stringify({ key: "app/staging/1-abc" }), { status: 201 }));
  };
  const client = new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: fetchStub });
  const result = await client.upload("app", new Uint8Array([1, 2, 3]), {
    sleep: (ms) => Promise.resolve(void waits.push(ms)),
  });
  assert.deepEqual(result, { key: "app/staging/1-abc" });
  assert.equal(keys.length, 3);
  assert.ok(keys[0].length >= 16 && keys.every((k) => k === keys[0]), "one key for every attempt");
  assert.equal(waits[1], 2_000, "Retry-After is honoured");
  // A 400 is final, and a stream is never sent twice.
  calls = 10;
  const final: typeof fetch = () =>
    Promise.resolve(new Response(JSON.stringify({ message: "bad", code: 400 }), { status: 400 }));
  await assert.rejects(
    new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: final }).upload("app", new Uint8Array([1])),
  );
  let streamed = 0;
  const down: typeof fetch = () => Promise.reject(new TypeError(`refused ${++streamed}`));
  await assert.rejects(
    new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: down }).upload(
      "app",
      new Blob([new Uint8Array([1])]).stream(),
    ),
  );
  assert.equal(streamed, 1);
});

Deno.test("api client retries a busy server's download, honouring Retry-After; a 404 is final", async () => {
  const waits: number[] = [];
  let calls = 0;
  const fetchStub: typeof fetch = () => {
    calls++;
    if (calls === 1) {
      return Promise.resolve(
        new Response(JSON.stringify({ message: "server busy", code: 503 }), {
          status: 503,
          headers: { "retry-after": "2" },
        }),
      );
    }
    return Promise.resolve(new Response(new Uint8Array([1, 2, 3]), { status: 200, headers: { etag: '"v1"' } }));
  };
  const client = new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: fetchStub });
  const result = await client.download("app", { sleep: (ms) => Promise.resolve(void waits.push(ms)) });
  assert.equal(result.notModified, false);
  if (!result.notModified) {
    assert.deepEqual(new Uint8Array(await new Response(result.body).arrayBuffer()), new Uint8Array([1, 2, 3]));
  }
  assert.deepEqual(waits, [2_000]);
  assert.equal(calls, 2);
  let missing = 0;
  const notFound: typeof fetch = () => {
    missing++;
    return Promise.resolve(new Response(JSON.stringify({ message: "Not Found", code: 404 }), { status: 404 }));
  };
  await assert.rejects(
    new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: notFound }).download("app"),
    (e) => e instanceof ApiError && e.status === 404,
  );
  assert.equal(missing, 1);
});

Deno.test("api client: a timeout is not retried, escape codes never reach the terminal, a bad token is not echoed", async () => {
  let calls = 0;
  const silent: typeof fetch = (_input, init) => {
    calls++;
    return new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)));
  };
  const slow = new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: silent, timeoutMs: 50 });
  await assert.rejects(
    slow.download("app", { sleep: () => Promise.resolve() }),
    (e) => e instanceof ApiError && e.timedOut,
  );
  assert.equal(calls, 1, "waited once, not four times");
  const colourful: typeof fetch = () => Promise.resolve(new Response("\u001b[31mred\u001b[0m alert", { status: 500 }));
  await assert.rejects(
    new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: colourful }).list(),
    (e) => e instanceof ApiError && e.message.endsWith("server answered 500: ?[31mred?[0m alert"),
  );
  assert.throws(
    () => new ApiClient({ baseUrl: "http://127.0.0.1:1", token: "sekret\ntoken" }),
    (e) => e instanceof ApiError && !e.message.includes("sekret") && /control character/.test(e.message),
  );
});

Deno.test("api client: a download does not retry a server it cannot reach (a build step falls back at once)", async () => {
  let calls = 0;
  const refused: typeof fetch = () => {
    calls++;
    return Promise.reject(Object.assign(new TypeError("connection refused"), { code: "ECONNREFUSED" }));
  };
  const client = new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: refused });
  await assert.rejects(
    client.download("app", { sleep: () => Promise.resolve() }),
    (e) => e instanceof ApiError && e.status === 0,
  );
  assert.equal(calls, 1);
});

Deno.test("api client: only the API's own 404 means no such profile; a 200 delete must be the API's JSON", async () => {
  const answer = (body: string, status: number): typeof fetch => () =>
    Promise.resolve(new Response(status === 204 ? null : body, { status }));
  const client = (stub: typeof fetch) => new ApiClient({ baseUrl: "http://127.0.0.1:1/prefix", fetch: stub });
  await assert.rejects(
    client(answer(JSON.stringify({ message: "Not Found", code: 404 }), 404)).download("app"),
    (e) => e instanceof ApiError && e.noSuchProfile && e.message === "download app: server answered 404: Not Found",
  );
  // A path no autopgo API serves (a proxy, another server, a wrong prefix, our own server's
  // answer for a path it has no route for): the URL is named.
  const noRoute = JSON.stringify({ message: noRouteMessage("GET", "/prefix/api/profile/app"), code: 404 });
  for (const body of ["404 page not found\n", "", noRoute]) {
    await assert.rejects(
      client(answer(body, 404)).download("app"),
      (e) =>
        e instanceof ApiError && e.status === 404 && !e.noSuchProfile &&
        /^download app: server answered 404.* \(no autopgo API at http:\/\/127\.0\.0\.1:1\/prefix\/api\/profile\/app\)$/
          .test(e.message),
    );
  }
  await client(answer("{}\n", 200)).delete("app");
  await client(answer("", 204)).delete("app");
  await assert.rejects(
    client(answer("<html>sign in</html>", 200)).delete("app"),
    (e) =>
      e instanceof ApiError &&
      e.message === "delete app: server answered 200 with a non-JSON body: <html>sign in</html>",
  );
});

Deno.test("api client: an answer longer than its reader allows is stopped there, one cut off is named", async () => {
  let sent = 0;
  const endless: typeof fetch = () =>
    Promise.resolve(
      new Response(
        new ReadableStream({
          pull(c) {
            c.enqueue(new TextEncoder().encode(sent++ === 0 ? '{"profiles":[' : " ".repeat(1 << 20)));
          },
        }),
      ),
    );
  await assert.rejects(
    new ApiClient({ baseUrl: "http://127.0.0.1:1", fetch: endless }).list(),
    (e) =>
      e instanceof ApiError &&
      e.message === "list profiles: the server's answer is longer than 64 MiB, more than autopgo reads for it",
  );
  assert.ok(sent <= MAX_JSON_ANSWER_BYTES / (1 << 20) + 2, `read ${sent} chunks`);
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array([1, 2]));
      c.error(new Error("connection reset"));
    },
  });
  await assert.rejects(
    readAnswer(body, 1024, "download app", 200),
    (e) => e instanceof ApiError && e.message === "download app: the answer broke off (connection reset)",
  );
  const whole = await readAnswer(new Blob([new Uint8Array([1]), new Uint8Array([2, 3])]).stream(), 3, "x", 200);
  assert.deepEqual(whole, new Uint8Array([1, 2, 3]));
});
