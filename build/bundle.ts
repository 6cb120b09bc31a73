/**
 * Builds the single-file `autopgo.js` (compile.sh's `js` target, the tests and the cold-start
 * benchmark all use this): `deno bundle --code-splitting` of main.ts (offline), then the chunks are
 * packed behind build/bundle_loader.js, which unpacks them once into a cache folder and imports
 * them from there.
 *
 * Why not one plain `deno bundle` file: Deno and V8 then parse its ~32 MB (the cloud SDKs included)
 * on every start, ~0.3–0.5 s, where from source `autopgo --version` takes ~55 ms. Split, the SDKs
 * are separate chunks loaded when a driver is opened; their dynamic imports are rewritten to
 * computed URLs (`new URL("./chunk.js", import.meta.url).href`) because Deno otherwise reads and
 * analyses every chunk reachable by a literal `import()` before the program starts. The packed
 * chunks (brotli, base64: 2.8 MiB) sit in a comment, read on every start at about 5 ms per MB.
 *
 * Usage: deno run -A build/bundle.ts [ENTRY] OUTPUT   (ENTRY defaults to main.ts; run from the
 * folder whose deno.json resolves its imports).
 *
 * @module
 */

import { brotliCompressSync, constants } from "node:zlib";
import { sha256Hex } from "../core/hex.ts";

/** Where {@link buildBundle} reads the loader from. */
const LOADER = new URL("./bundle_loader.js", import.meta.url);

/** Options of {@link buildBundle}. */
export interface BundleOptions {
  /** The program's entry module (default main.ts in the current folder). */
  entry?: string;
  /** The single file to write. */
  output: string;
  /** Folder `deno bundle` runs in (its deno.json resolves the imports; default: the current one). */
  cwd?: string;
}

/** What {@link buildBundle} wrote. */
export interface BundleResult {
  /** Bytes of the written file. */
  size: number;
  /** The archive's id (the cache folder's suffix). */
  id: string;
  /** Number of modules packed. */
  modules: number;
}

/** Builds the single file; throws with `deno bundle`'s own message when bundling fails. */
export async function buildBundle(opts: BundleOptions): Promise<BundleResult> {
  const split = await Deno.makeTempDir({ prefix: "autopgo-split-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "deno", "--code-splitting", "--outdir", split, opts.entry ?? "main.ts"],
      cwd: opts.cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`deno bundle failed: ${new TextDecoder().decode(out.stderr).trim()}`);
    const names = [...Deno.readDirSync(split)].filter((e) => e.isFile).map((e) => e.name).sort();
    if (!names.includes("main.js")) throw new Error(`deno bundle wrote no main.js (entry ${opts.entry ?? "main.ts"})`);
    // The decode pool's worker module (core/pipeline/decode_worker.ts, imported by main.ts in a Worker).
    const decodeWorker = names.find((name) => /^decode_worker-\w+\.js$/.test(name));
    if (!decodeWorker) throw new Error("deno bundle wrote no decode_worker chunk");
    const chunks = new Set(names);
    const files = names.map((name) => ({
      name,
      bytes: new TextEncoder().encode(lazyImports(Deno.readTextFileSync(`${split}/${name}`), chunks)),
    }));
    const archive = packArchive(files);
    const id = await sha256Hex(archive, 8);
    const payload = compress(archive).toString("base64");
    const loader = Deno.readTextFileSync(LOADER)
      .replace("__AUTOPGO_BUNDLE_ID__", id)
      .replace("__AUTOPGO_BUNDLE_MODULES__", JSON.stringify(names))
      .replace("__AUTOPGO_BUNDLE_DECODE_WORKER__", JSON.stringify(`./${decodeWorker}`));
    const text = `${loader}/*${payload}*/\n`;
    Deno.writeTextFileSync(opts.output, text);
    return { size: new TextEncoder().encode(text).length, id, modules: files.length };
  } finally {
    await Deno.remove(split, { recursive: true });
  }
}

/**
 * Rewrites `import("./chunk.js")` of the bundle's own chunks to a computed URL, so Deno loads
 * a chunk when the program asks for it instead of analysing all of them at start. Other text,
 * including look-alike strings naming no chunk, is left alone.
 */
export function lazyImports(source: string, chunks: ReadonlySet<string>): string {
  return source.replace(
    /\bimport\("\.\/([\w.-]+\.js)"\)/g,
    (whole, name: string) => chunks.has(name) ? `import(new URL("./${name}", import.meta.url).href)` : whole,
  );
}

/**
 * Brotli, quality 9 with a 16 MiB window: 2.2 MB for the ~31 MB of modules in ~2 s (gzip -9:
 * 3.2 MB). Every start reads the payload and costs ~5 ms per MB, so smaller is faster; quality 10
 * saves another 8% but takes 16 s.
 */
function compress(archive: Uint8Array): Buffer {
  return brotliCompressSync(archive, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 9,
      [constants.BROTLI_PARAM_LGWIN]: 24,
      [constants.BROTLI_PARAM_SIZE_HINT]: archive.length,
    },
  });
}

/** One JSON line `[[name, size], …]`, then the files' bytes in that order. */
export function packArchive(files: readonly { name: string; bytes: Uint8Array }[]): Uint8Array<ArrayBuffer> {
  const header = new TextEncoder().encode(JSON.stringify(files.map((f) => [f.name, f.bytes.length])) + "\n");
  const out = new Uint8Array(header.length + files.reduce((n, f) => n + f.bytes.length, 0));
  out.set(header);
  let at = header.length;
  for (const f of files) {
    out.set(f.bytes, at);
    at += f.bytes.length;
  }
  return out;
}

if (import.meta.main) {
  const [first, second] = Deno.args;
  if (!first) {
    console.error("usage: deno run -A build/bundle.ts [ENTRY] OUTPUT");
    Deno.exit(2);
  }
  try {
    const result = await buildBundle(second ? { entry: first, output: second } : { output: first });
    console.log(
      `wrote ${second ?? first}: ${(result.size / 1048576).toFixed(1)} MiB, ${result.modules} modules, id ${result.id}`,
    );
  } catch (error) {
    console.error(`build/bundle.ts: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
