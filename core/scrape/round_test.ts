import assert from "node:assert/strict";
import { pickSample, type ProfileUploader, type RoundOptions, runRound, scrapeTarget } from "./round.ts";
import { makeTarget, parseScrapeTags, profileSeconds, profileUrl, type Target } from "./target.ts";

/** An uploader that records what it got. */
function recordingUploader(): ProfileUploader & { uploads: { app: string; bytes: number }[] } {
  const uploads: { app: string; bytes: number }[] = [];
  return {
    uploads,
    async upload(app, body) {
      await Promise.resolve();
      uploads.push({ app, bytes: body.byteLength });
      return { key: `${app}/staging/${uploads.length}` };
    },
  };
}

function serve(handler: (req: Request) => Response | Promise<Response>) {
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} }, handler);
  return {
    target: { address: `http://127.0.0.1:${server.addr.port}` } as Target,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test("pickSample picks distinct items at random without mutating the input", () => {
  const items = ["a", "b", "c", "d", "e"];
  const values = [0.99, 0.0, 0.5];
  let i = 0;
  const sample = pickSample(items, 3, () => values[i++]);
  assert.deepEqual(items, ["a", "b", "c", "d", "e"]);
  assert.deepEqual(sample, ["e", "b", "d"]);
  assert.equal(new Set(sample).size, 3);
  assert.deepEqual(pickSample(items, 10, Math.random).sort(), items);
  assert.deepEqual(pickSample([], 3, Math.random), []);
});

Deno.test("profile URLs replace path and query with ?seconds=N; durations must be whole seconds", () => {
  assert.equal(
    profileUrl({ address: "http://10.0.0.1:6060" }, 30).href,
    "http://10.0.0.1:6060/debug/pprof/profile?seconds=30",
  );
  assert.equal(profileUrl({ address: "https://h:1", path: "/p" }, 90).href, "https://h:1/p?seconds=90");
  assert.equal(profileSeconds(120_000), 120);
  assert.throws(() => profileSeconds(1500), /whole seconds/);
  assert.throws(() => profileSeconds(500), /at least 1s/);
  assert.throws(() => profileSeconds(0), /at least 1s/);
});

Deno.test("targets are IPv6-safe and validated", () => {
  assert.deepEqual(makeTarget({ host: "fd00::1", port: 8080 }), { address: "http://[fd00::1]:8080" });
  assert.deepEqual(makeTarget({ host: "10.1.2.3", port: "443", scheme: "HTTPS", path: "/x" }), {
    address: "https://10.1.2.3:443",
    path: "/x",
  });
  assert.throws(() => makeTarget({ host: "h", port: 0 }), /invalid port/);
  assert.throws(() => makeTarget({ host: "h", port: "http" }), /invalid port/);
  assert.throws(() => makeTarget({ host: "h", port: 1, scheme: "ftp" }), /scheme/);
  assert.throws(() => makeTarget({ host: "h", port: 1, path: "x" }), /path/);
  assert.deepEqual(
    [...parseScrapeTags(["autopgo.scrape=true", "other=x", "autopgo.scrape.path=/a=b", "noeq"])],
    [["autopgo.scrape", "true"], ["autopgo.scrape.path", "/a=b"]],
  );
});

Deno.test("scrapeTarget streams the target's profile into the upload with headers and seconds", async () => {
  const seen: string[] = [];
  const body = new Uint8Array(300_000).fill(1);
  const t = serve((req) => {
    seen.push(`${new URL(req.url).pathname}${new URL(req.url).search} ${req.headers.get("authorization")}`);
    return new Response(body);
  });
  try {
    const uploader = recordingUploader();
    const result = await scrapeTarget(t.target, {
      app: "demo",
      seconds: 7,
      targetTimeoutMs: 5000,
      targetHeaders: [["Authorization", "Bearer t0k"]],
      uploader,
    });
    assert.equal(result.ok, true);
    if (result.ok) assert.equal(result.bytes, body.byteLength);
    assert.deepEqual(uploader.uploads, [{ app: "demo", bytes: body.byteLength }]);
    assert.deepEqual(seen, ["/debug/pprof/profile?seconds=7 Bearer t0k"]);
  } finally {
    await t.close();
  }
});

Deno.test("a round survives a hanging target, a dead target and an erroring target", async () => {
  const good = serve(() => new Response(new Uint8Array([1, 2, 3])));
  const failing = serve(() => new Response("profile duration exceeds server's WriteTimeout\n", { status: 400 }));
  const hanging = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of hanging) held.push(c);
    } catch { /* closed */ }
  })();
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = dead.addr.port;
  dead.close();
  const uploader = recordingUploader();
  const options: RoundOptions = { app: "demo", seconds: 1, targetTimeoutMs: 800, uploader };
  try {
    const started = performance.now();
    const results = await runRound([
      good.target,
      { address: `http://127.0.0.1:${hanging.addr.port}` },
      { address: `http://127.0.0.1:${deadPort}` },
      failing.target,
    ], options);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 5000, `round took ${elapsed}ms despite an 800ms target deadline`);
    assert.deepEqual(results.map((r) => r.ok), [true, false, false, false]);
    const errors = results.map((r) => r.ok ? "" : r.error);
    assert.match(errors[1], /no complete profile within 800ms/);
    assert.ok(errors[2].length > 0);
    assert.match(errors[3], /^target answered 400: profile duration exceeds/);
    assert.deepEqual(uploader.uploads, [{ app: "demo", bytes: 3 }]);
  } finally {
    for (const c of held) c.close();
    hanging.close();
    await accepting;
    await good.close();
    await failing.close();
  }
});

Deno.test("an upload failure is reported for its target only", async () => {
  const t = serve(() => new Response(new Uint8Array([1])));
  try {
    const uploader: ProfileUploader = {
      async upload(_app, body) {
        await Promise.resolve(body);
        throw new Error("upload demo: server answered 400 Bad Request: not a CPU profile");
      },
    };
    const [r] = await runRound([t.target], { app: "demo", seconds: 1, targetTimeoutMs: 2000, uploader });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /not a CPU profile/);
  } finally {
    await t.close();
  }
});

Deno.test("a target that dies while sending its profile fails without stalling or uploading garbage", async () => {
  const t = serve(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(1024).fill(0x1f));
          setTimeout(() => controller.error(new Error("process killed")), 50);
        },
      }),
    )
  );
  try {
    let uploads = 0;
    const uploader: ProfileUploader = {
      async upload(_app, _body) {
        await Promise.resolve(uploads++);
        return { key: "never" };
      },
    };
    const started = performance.now();
    const [r] = await runRound([t.target], { app: "demo", seconds: 1, targetTimeoutMs: 10_000, uploader });
    assert.equal(r.ok, false);
    assert.equal(uploads, 0, "a broken profile is never uploaded");
    assert.ok(performance.now() - started < 5000);
  } finally {
    await t.close();
  }
});
