/**
 * Child process for tests/blob_race_test.ts and tests/support/cloud_blob_suite.ts: one of
 * several OS processes racing on one blob store (any URL the built-in drivers open: `file://`,
 * `s3://`, `gs://`, `azblob://`…, with credentials from the environment) or one `file://` bus
 * directory. Prints "ready" when set up, waits for "go" on stdin (so every process starts
 * racing at once), then prints one JSON line with its results. Started by
 * tests/support/race_process.ts.
 *
 * Modes (`deno run -A race_child.ts MODE URL ID ARGS…`):
 * - `cas URL ID ROUNDS [lockstep]` — reads `cas/<r>` for every round, then writes each with
 *   ifVersion of what it read and `absent/<r>` with ifAbsent; reports which rounds it won. With
 *   `lockstep` it prints "ready" and waits for "go" before every round, so the parent can start
 *   each round in all processes at once (over a network one process could otherwise finish
 *   all its rounds before the others begin).
 * - `increment URL ID TIMES` — adds 1 to the counter in `counter` TIMES with read + ifVersion
 *   write, retrying on conflict; reports how many conflicts it retried.
 * - `probe URL ID KEY` — no race: calls `check()` and `read(KEY)` once each and reports the
 *   error kind and message of each (`ok` when it succeeded), e.g. with wrong credentials.
 * - `consume URL ID MARKDIR` — processes bus messages until stdin closes: for each, creates
 *   `MARKDIR/msg-<id>` and `MARKDIR/key-<key>` exclusively (a failure means two consumers hold
 *   the message or the key at once), appends `<key> <n>` to `MARKDIR/log`, removes the marks, acks.
 * - `hang URL ID` — claims one message, prints its body, never acks (killed by the test).
 *
 * @module
 */

import { BlobError, PreconditionFailedError } from "../../core/blob.ts";
import { openBlobStore } from "../../core/registry.ts";
import { registerBuiltinDrivers } from "../../adapters/mod.ts";
import { openFileEventReader } from "../../adapters/bus/file_bus.ts";

const [mode, url, id, arg, option] = Deno.args;
const enc = (text: string) => new TextEncoder().encode(text);
const dec = (data: Uint8Array) => new TextDecoder().decode(data);

const stdinLines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
async function waitForGo(): Promise<void> {
  console.log("ready");
  let buffer = "";
  while (!buffer.includes("go")) {
    const { value, done } = await stdinLines.read();
    if (done) throw new Error("stdin closed before go");
    buffer += value;
  }
}

registerBuiltinDrivers();

async function cas(rounds: number) {
  const store = await openBlobStore(url);
  const versions: string[] = [];
  for (let r = 0; r < rounds; r++) versions.push((await store.read(`cas/${r}`)).version);
  await waitForGo();
  const results: { kind: string; round: number; won: boolean; version?: string; error?: string }[] = [];
  const attempt = async (kind: string, round: number, write: () => Promise<string>) => {
    try {
      results.push({ kind, round, won: true, version: await write() });
    } catch (e) {
      results.push({
        kind,
        round,
        won: false,
        error: e instanceof PreconditionFailedError ? "precondition" : String(e),
      });
    }
  };
  for (let r = 0; r < rounds; r++) {
    if (option === "lockstep" && r > 0) await waitForGo();
    await attempt("cas", r, () => store.write(`cas/${r}`, enc(`${id}:${r}`), { ifVersion: versions[r] }));
    await attempt("absent", r, () => store.write(`absent/${r}`, enc(`${id}:${r}`), { ifAbsent: true }));
  }
  await store.close();
  console.log(JSON.stringify({ id, results }));
}

async function increment(times: number) {
  const store = await openBlobStore(url);
  await waitForGo();
  let conflicts = 0;
  for (let i = 0; i < times; i++) {
    for (;;) {
      const current = await store.read("counter");
      try {
        await store.write("counter", enc(String(Number(dec(current.data)) + 1)), { ifVersion: current.version });
        break;
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
        conflicts++;
      }
    }
  }
  await store.close();
  console.log(JSON.stringify({ id, conflicts }));
}

async function probe(key: string) {
  const store = await openBlobStore(url);
  const outcome = async (call: () => Promise<unknown>) => {
    try {
      await call();
      return { kind: "ok", message: "" };
    } catch (e) {
      return { kind: e instanceof BlobError ? e.kind : "not a BlobError", message: String((e as Error).message ?? e) };
    }
  };
  const check = await outcome(() => store.check());
  const read = await outcome(() => store.read(key));
  await store.close();
  console.log(JSON.stringify({ id, check, read }));
}

async function exclusive(path: string): Promise<boolean> {
  try {
    await Deno.writeTextFile(path, id, { createNew: true });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  }
}

async function consume(markDir: string) {
  const reader = await openFileEventReader(url);
  await waitForGo();
  const stop = new AbortController();
  (async () => {
    while (!(await stdinLines.read()).done) { /* wait for the parent to close stdin */ }
    stop.abort();
  })();
  const processed: string[] = [];
  const violations: string[] = [];
  for (;;) {
    const message = await reader.receive(stop.signal);
    if (!message) break;
    const [key, n] = dec(message.body).split(" ");
    const marks = [`${markDir}/msg-${message.id}`, `${markDir}/key-${key}`];
    for (const mark of marks) if (!(await exclusive(mark))) violations.push(`${mark} held by another consumer`);
    await Deno.writeTextFile(`${markDir}/log`, `${key} ${n}\n`, { append: true });
    await new Promise((r) => setTimeout(r, Math.random() * 4));
    for (const mark of marks) await Deno.remove(mark).catch(() => {});
    processed.push(`${key} ${n}`);
    await message.ack();
  }
  await reader.close();
  console.log(JSON.stringify({ id, processed, violations }));
}

async function hang() {
  const reader = await openFileEventReader(url);
  const message = await reader.receive();
  console.log(JSON.stringify({ id, body: message && dec(message.body) }));
  setInterval(() => {}, 60_000); // hold the lease until the test kills this process
}

if (mode === "cas") await cas(Number(arg));
else if (mode === "increment") await increment(Number(arg));
else if (mode === "consume") await consume(arg);
else if (mode === "hang") await hang();
else if (mode === "probe") await probe(arg);
else throw new Error(`race_child: unknown mode ${mode}`);
