import assert from "node:assert/strict";
import { FileTargetSource, MAX_TARGETS_FILE_BYTES, parseTargetsFile } from "./file.ts";

const signal = new AbortController().signal;

Deno.test("targets file: the seed's format parses, with default and custom paths", () => {
  const targets = parseTargetsFile(
    JSON.stringify([
      { address: "http://localhost:5000", path: "/debug/pprof/profile" },
      { address: "https://[::1]:6060" },
      { address: "http://10.0.0.7" },
    ]),
    "t.json",
  );
  assert.deepEqual(targets, [
    { address: "http://localhost:5000", path: "/debug/pprof/profile" },
    { address: "https://[::1]:6060" },
    { address: "http://10.0.0.7:80" },
  ]);
});

Deno.test("targets file: bad files give one-line errors naming the entry", () => {
  const cases: [string, RegExp][] = [
    ["{", /targets file t\.json: invalid JSON/],
    [`{"address":"http://a:1"}`, /expected a JSON array/],
    [`[1]`, /entry 0: expected an object/],
    [`[{"address":"http://a:1"},{"path":"/x"}]`, /entry 1: "address" must be a non-empty string/],
    [`[{"address":"not a url"}]`, /entry 0: "address" "not a url" is not a URL/],
    [`[{"address":"ftp://a:1"}]`, /entry 0: scheme must be http or https/],
    [`[{"address":"http://a:1/debug"}]`, /scheme:\/\/host:port only/],
    [`[{"address":"http://a:1","path":"debug"}]`, /path must start with/],
    [`[{"address":"http://a:1","path":5}]`, /"path" must be a string/],
  ];
  for (const [text, expected] of cases) {
    assert.throws(
      () => parseTargetsFile(text, "t.json"),
      (e: Error) => expected.test(e.message) && !e.message.includes("\n"),
    );
  }
});

Deno.test("file source: missing file at start is an error; reload keeps the old list on a bad file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(FileTargetSource.open(`${dir}/missing.json`, { watchSighup: false }), /file does not exist/);
    const path = `${dir}/targets.json`;
    await Deno.writeTextFile(path, JSON.stringify([{ address: "http://127.0.0.1:1000" }]));
    const source = await FileTargetSource.open(path, { watchSighup: false });
    assert.equal(source.name, `file://${path}`);
    assert.deepEqual(await source.list(signal), [{ address: "http://127.0.0.1:1000" }]);
    await source.check(signal);

    await Deno.writeTextFile(path, "[{");
    const error = await source.reload();
    assert.match(error?.message ?? "", /invalid JSON/);
    assert.deepEqual(await source.list(signal), [{ address: "http://127.0.0.1:1000" }], "old list kept");
    await assert.rejects(source.check(signal), /last reload failed/);

    await Deno.writeTextFile(path, JSON.stringify([{ address: "http://127.0.0.1:2000", path: "/p" }]));
    assert.equal(await source.reload(), undefined);
    assert.deepEqual(await source.list(signal), [{ address: "http://127.0.0.1:2000", path: "/p" }]);
    await source.check(signal);

    // A FIFO in its place is refused at once (reading it hung the reload), and so is a huge file.
    await Deno.remove(path);
    await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.match((await source.reload())?.message ?? "", /not a regular file/);
    await Deno.remove(path);
    await Deno.writeFile(path, new Uint8Array(MAX_TARGETS_FILE_BYTES + 1));
    assert.match((await source.reload())?.message ?? "", /over the limit of 16777216/);
    assert.deepEqual(await source.list(signal), [{ address: "http://127.0.0.1:2000", path: "/p" }], "old list kept");

    await Deno.remove(path);
    await assert.rejects(source.check(signal), /not readable/);
    source.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file source reloads on SIGHUP", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/targets.json`;
  await Deno.writeTextFile(path, JSON.stringify([{ address: "http://127.0.0.1:1000" }]));
  let reloaded!: () => void;
  const done = new Promise<void>((r) => reloaded = r);
  const source = await FileTargetSource.open(path, { onReload: () => reloaded() });
  try {
    await Deno.writeTextFile(path, JSON.stringify([{ address: "http://127.0.0.1:3000" }]));
    Deno.kill(Deno.pid, "SIGHUP");
    // Signal listeners do not keep the event loop alive: hold it with a timer until the reload.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      done,
      new Promise((_, reject) => timer = setTimeout(() => reject(new Error("no reload")), 5000)),
    ]);
    clearTimeout(timer);
    assert.deepEqual(await source.list(signal), [{ address: "http://127.0.0.1:3000" }]);
  } finally {
    source.close();
    await Deno.remove(dir, { recursive: true });
  }
});
