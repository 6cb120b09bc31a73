// autopgo, the single-file build (made by build/bundle.ts; README.md, "Releases and installation").
//
// The program's modules follow this loader, brotli-compressed and base64-encoded in the comment at
// the end of the file, so that neither Deno nor V8 parses 30 MB of cloud SDKs on every start. The
// first run unpacks them into <cache>/autopgo/bundle-<id>/ (<cache>: $XDG_CACHE_HOME, ~/.cache,
// %LOCALAPPDATA%, else the temp folder), atomically (a folder renamed into place), and every run
// imports them from there; the id is the archive's SHA-256, so builds never mix, and a folder
// missing a module (a cleaner emptied part of it) is unpacked again. Modules load when first
// used, as from source.
const BUNDLE_ID = "__AUTOPGO_BUNDLE_ID__";
const MODULES = __AUTOPGO_BUNDLE_MODULES__;
// The decode pool's Web Workers run this module (core/pipeline/decode_pool.ts reads the key). Not
// main.js: its handler would be set only after an awaited import, and a job posted meanwhile lost.
const DECODE_WORKER = __AUTOPGO_BUNDLE_DECODE_WORKER__;
const DECODE_WORKER_KEY = Symbol.for("autopgo.bundle.decodeWorker");

function cacheRoots() {
  const env = (name) => {
    try {
      return Deno.env.get(name) || undefined;
    } catch {
      return undefined;
    }
  };
  const home = env("HOME") ?? env("USERPROFILE");
  const roots = [env("XDG_CACHE_HOME"), home && `${home}/.cache`, env("LOCALAPPDATA"), env("TMPDIR") ?? env("TEMP")];
  roots.push(Deno.build.os === "windows" ? "C:/Windows/Temp" : "/tmp");
  // Only absolute folders: a relative $XDG_CACHE_HOME is invalid (XDG spec) and would follow the working directory.
  return roots.filter((root) => root && /^(\/|[A-Za-z]:[\\/])/.test(root));
}

function isFile(path) {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function exists(path) {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function complete(folder) {
  return MODULES.every((name) => isFile(`${folder}/${name}`));
}

let packed;

/** The archive in this file's closing comment, decoded once even when several cache folders are tried. */
async function archiveBytes() {
  if (!packed) {
    const self = Deno.readTextFileSync(new URL(import.meta.url));
    const start = self.lastIndexOf("/*") + 2, end = self.lastIndexOf("*/");
    const { brotliDecompressSync } = await import("node:zlib");
    packed = new Uint8Array(brotliDecompressSync(Uint8Array.fromBase64(self.slice(start, end))));
  }
  return packed;
}

async function unpack(folder, damaged) {
  const archive = await archiveBytes();
  const newline = archive.indexOf(10);
  const files = JSON.parse(new TextDecoder().decode(archive.subarray(0, newline)));
  const parent = folder.slice(0, folder.lastIndexOf("/"));
  Deno.mkdirSync(parent, { recursive: true });
  const staging = `${folder}.${crypto.randomUUID()}.tmp`;
  try {
    Deno.mkdirSync(staging);
    let at = newline + 1;
    for (const [name, size] of files) {
      if (!/^[\w.-]+$/.test(name)) throw new Error(`bad file name ${JSON.stringify(name)} in the bundle`);
      Deno.writeFileSync(`${staging}/${name}`, archive.subarray(at, at + size));
      at += size;
    }
    // A folder that was there, incomplete, before this run began is damaged (a module gone). An absent one is never
    // removed: a run starting at the same time may have just renamed its complete folder into place.
    if (damaged && !complete(folder)) removeQuietly(folder);
    Deno.renameSync(staging, folder);
  } catch (error) {
    removeQuietly(staging);
    if (!complete(folder)) throw error; // else another run unpacked it first
  }
  pruneOthers(parent, folder.slice(parent.length + 1));
}

const DAY_MS = 86_400_000;

/**
 * Removes other builds' folders unpacked over 30 days ago, and staging folders a crash left over a
 * day ago: the cache does not grow with every upgrade. A build still in use that loses its folder
 * unpacks it again on its next start.
 */
function pruneOthers(parent, keep) {
  try {
    for (const entry of Deno.readDirSync(parent)) {
      const staging = /^bundle-[0-9a-f]+\.[\w-]+\.tmp$/.test(entry.name);
      if (entry.name === keep || !(staging || /^bundle-[0-9a-f]+$/.test(entry.name))) continue;
      const modified = Deno.statSync(`${parent}/${entry.name}`).mtime?.getTime() ?? Date.now();
      if (modified < Date.now() - (staging ? DAY_MS : 30 * DAY_MS)) removeQuietly(`${parent}/${entry.name}`);
    }
  } catch {
    // Pruning is best effort.
  }
}

/** The file: URL of an absolute path (`/…`, or `C:/…` on Windows); `#`, `%`, `?` and spaces in it are escaped. */
function fileUrl(path) {
  const segments = path.split("/").map((part, i) =>
    i <= 1 && /^[A-Za-z]:$/.test(part) ? part : encodeURIComponent(part)
  );
  return `file://${path.startsWith("/") ? "" : "/"}${segments.join("/")}`;
}

function removeQuietly(path) {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch {
    // absent
  }
}

async function entry() {
  const problems = [];
  for (const root of cacheRoots()) {
    const folder = `${root.replaceAll("\\", "/")}/autopgo/bundle-${BUNDLE_ID}`;
    if (complete(folder)) return `${folder}/main.js`;
    try {
      await unpack(folder, exists(folder));
      return `${folder}/main.js`;
    } catch (error) {
      problems.push(`${folder}: ${error instanceof Error ? error.message : error}`);
    }
  }
  throw new Error(`cannot unpack the program's modules; run it with -A (${problems.join("; ")})`);
}

let url;
try {
  const path = await entry();
  url = fileUrl(path);
} catch (error) {
  console.error(`autopgo: ${error instanceof Error ? error.message : error}`);
  Deno.exit(1);
}
globalThis[DECODE_WORKER_KEY] = new URL(DECODE_WORKER, url).href;
await (await import(url)).main();
