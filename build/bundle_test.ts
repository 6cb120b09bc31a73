import assert from "node:assert/strict";
import { lazyImports, packArchive } from "./bundle.ts";

Deno.test("lazyImports rewrites literal imports of the bundle's own chunks only", () => {
  const chunks = new Set(["main.js", "s3_blob-AB12CD34.js"]);
  const source = [
    'const m = await import("./s3_blob-AB12CD34.js");',
    'const other = await import("./not-a-chunk.js");',
    'import { x } from "./s3_blob-AB12CD34.js";',
    'const text = "import(\\"./s3\\")";',
  ].join("\n");
  assert.equal(
    lazyImports(source, chunks),
    [
      'const m = await import(new URL("./s3_blob-AB12CD34.js", import.meta.url).href);',
      'const other = await import("./not-a-chunk.js");',
      'import { x } from "./s3_blob-AB12CD34.js";',
      'const text = "import(\\"./s3\\")";',
    ].join("\n"),
  );
});

Deno.test("packArchive: one JSON line of names and sizes, then the bytes in order", () => {
  const enc = new TextEncoder();
  const archive = packArchive([
    { name: "main.js", bytes: enc.encode("export {};\n") },
    { name: "chunk-1.js", bytes: new Uint8Array([0, 10, 255]) },
    { name: "empty.js", bytes: new Uint8Array() },
  ]);
  const newline = archive.indexOf(10);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(archive.subarray(0, newline))), [
    ["main.js", 11],
    ["chunk-1.js", 3],
    ["empty.js", 0],
  ]);
  assert.equal(new TextDecoder().decode(archive.subarray(newline + 1, newline + 12)), "export {};\n");
  assert.deepEqual([...archive.subarray(newline + 12)], [0, 10, 255]);
});
