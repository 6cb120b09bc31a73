/**
 * Unit tests of the CLI utilities' pure parts: the list table, the clean rules, target header
 * parsing and the atomic download writer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { formatAge, formatProfileTable, formatRejectedTable } from "../cmd/list.ts";
import { shouldClean } from "../cmd/clean.ts";
import { writeAtomically } from "../cmd/download.ts";
import { sampleSizeArg, targetHeaderArg } from "../cmd/scrape.ts";

const NOW = Date.parse("2026-01-02T03:04:05Z");

Deno.test("list: human sizes, coarse ages and uploads merged; columns align like tabwriter", () => {
  assert.equal(formatAge(new Date(NOW - 999), NOW), "0s");
  assert.equal(formatAge(new Date(NOW - 59_500), NOW), "59s");
  assert.equal(formatAge(new Date(NOW - (3 * 3600 + 2 * 60 + 1) * 1000 - 700), NOW), "3h2m");
  assert.equal(formatAge(new Date(NOW - 3600_000), NOW), "1h");
  assert.equal(formatAge(new Date(NOW - 3 * 86400_000 - 7200_000), NOW), "3d2h");
  assert.equal(formatAge(new Date(NOW + 5000), NOW), "0s", "clock skew never prints a negative age");
  const table = formatProfileTable(
    [
      { key: "a", size: 123456, lastModified: new Date(NOW - 61_000) },
      { key: "long-app-name", size: 7, lastModified: new Date(NOW - 5000) },
    ],
    NOW,
    new Map([["a", 12]]),
  );
  assert.equal(
    table,
    [
      "NAME           SIZE     UPDATED  UPLOADS MERGED",
      "a              121 KiB  1m ago   12",
      "long-app-name  7 B      5s ago   -",
      "",
    ].join("\n"),
  );
});

Deno.test("list: the set-aside table counts uploads and bases per app with the last reason", () => {
  const table = formatRejectedTable([
    { key: "victim", count: 2, bases: 0, lastReason: "not usable for PGO: x", lastRejectedAt: new Date(NOW - 3000) },
    { key: "old", count: 0, bases: 1, lastReason: "cannot derive y", lastRejectedAt: new Date(NOW - 61_000) },
  ], NOW);
  assert.equal(
    table,
    [
      "APP     SET ASIDE  LAST  LAST REASON",
      "victim  2          3s    not usable for PGO: x",
      "old     0+1 base   1m    cannot derive y",
      "",
    ].join("\n"),
  );
});

Deno.test("clean: strictly larger than, strictly older than, either rule", () => {
  const p = { key: "a", size: 100, lastModified: new Date(NOW - 3600_000) };
  assert.equal(shouldClean(p, { largerThanBytes: 100 }, NOW), false);
  assert.equal(shouldClean(p, { largerThanBytes: 99 }, NOW), true);
  assert.equal(shouldClean(p, { olderThanMs: 3600_000 }, NOW), false);
  assert.equal(shouldClean(p, { olderThanMs: 3599_999 }, NOW), true);
  assert.equal(shouldClean(p, { largerThanBytes: 1000, olderThanMs: 60_000 }, NOW), true);
  assert.equal(shouldClean(p, {}, NOW), false);
});

Deno.test("scrape: target headers and sample size are parsed strictly", () => {
  assert.deepEqual(targetHeaderArg("Authorization: Bearer x"), [["Authorization", "Bearer x"]]);
  assert.deepEqual(targetHeaderArg("X-B: 2", [["X-A", "1"]]), [["X-A", "1"], ["X-B", "2"]]);
  assert.deepEqual(targetHeaderArg("X-A: 1\nX-B: a:b"), [["X-A", "1"], ["X-B", "a:b"]]);
  assert.throws(() => targetHeaderArg("no colon"), /expected "Name: value"/);
  assert.throws(() => targetHeaderArg("Bad Name: x"), /expected "Name: value"/);
  assert.equal(sampleSizeArg("3"), 3);
  assert.throws(() => sampleSizeArg("0"), /at least 1/);
  assert.throws(() => sampleSizeArg("-1"), /non-negative integer/);
});

Deno.test("download: a stream that fails midway leaves the existing file and no temp file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/default.pgo`;
    await Deno.writeTextFile(path, "old");
    await Deno.chmod(path, 0o640);
    let sent = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 3) controller.enqueue(new Uint8Array(1024));
        else controller.error(new Error("connection reset"));
      },
    });
    await assert.rejects(writeAtomically(path, failing), /connection reset/);
    assert.equal(await Deno.readTextFile(path), "old");
    await assert.rejects(writeAtomically(path, new Blob([]).stream()), /empty profile/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["default.pgo"]);

    assert.equal(await writeAtomically(path, new Blob([new Uint8Array([1, 2, 3])]).stream()), 3);
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640, "the replaced file keeps its permissions");
    await assert.rejects(
      writeAtomically(`${dir}/missing/x.pgo`, new Blob([new Uint8Array([1])]).stream()),
      /^CliError: output folder .*\/missing does not exist$/,
    );
    await assert.rejects(writeAtomically(dir, new Blob([new Uint8Array([1])]).stream()), /is a directory/);

    // A symbolic link is written where it points; a FIFO is written into, not replaced by a file.
    await Deno.symlink(path, `${dir}/link.pgo`);
    assert.equal(await writeAtomically(`${dir}/link.pgo`, new Blob([new Uint8Array([4, 5])]).stream()), 2);
    assert.ok((await Deno.lstat(`${dir}/link.pgo`)).isSymlink);
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([4, 5]));
    const fifo = `${dir}/pipe`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const reader = Deno.readFile(fifo);
    assert.equal(await writeAtomically(fifo, new Blob([new Uint8Array([6, 7, 8])]).stream()), 3);
    assert.deepEqual(await reader, new Uint8Array([6, 7, 8]));
    assert.ok((await Deno.lstat(fifo)).isFifo, "still a FIFO");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
