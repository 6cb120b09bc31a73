/**
 * Self-containment check: build/bundle.ts (`deno bundle`, offline) turns main.ts into one
 * JavaScript file; run from an empty directory it must work without any file of the repository
 * beside it, including the decode pool's Web Workers (which then run the unpacked decode worker).
 * Its first run unpacks the modules into the cache folder, later runs reuse them, and a damaged
 * or missing cache is unpacked again. (`deno compile` needs Deno's download host for its runtime;
 * compile.sh covers that.)
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildTestBundle } from "./support/bundle.ts";
import { eventually, startAutopgoServer } from "./support/autopgo_processes.ts";
import { wideLocationProfile } from "./support/crafted_profiles.ts";

async function run(cmd: string, args: string[], cwd?: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("bundled autopgo runs from an empty directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-bundle-" });
  try {
    const built = await buildTestBundle(dir);
    const bundle = built.path;
    const work = `${dir}/empty`;
    await Deno.mkdir(work);
    const version = await run(Deno.execPath(), ["run", "-A", "--no-config", bundle, "--version"], work, built.env);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^autopgo \d+\.\d+\.\d+ \(commit HEAD, deno \d+\.\d+\.\d+\)\n$/);
    assert.ok((await Deno.stat(`${built.unpacked}/main.js`)).isFile, "the first run unpacked the modules");
    const chunks = [...Deno.readDirSync(built.unpacked)].length;
    assert.ok(chunks > 10, `${chunks} modules unpacked`);
    // A damaged cache (a module gone) is unpacked again.
    const gone = [...Deno.readDirSync(built.unpacked)].find((e) => e.name !== "main.js")!.name;
    await Deno.remove(`${built.unpacked}/${gone}`);
    const help = await run(Deno.execPath(), ["run", "-A", "--no-config", bundle, "--help"], work, built.env);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /server/);
    assert.ok((await Deno.stat(`${built.unpacked}/${gone}`)).isFile, `${gone} unpacked again`);
    // Runs that start together on an empty cache each unpack, one folder wins, and no staging folder is left.
    await Deno.remove(built.unpacked, { recursive: true });
    // Other builds' folders unpacked over 30 days ago, and a day-old staging folder, go with the next unpack.
    const cacheFolder = built.unpacked.slice(0, built.unpacked.lastIndexOf("/"));
    const old = new Date(Date.now() - 40 * 86_400_000);
    for (const name of ["bundle-00000000000000aa", "bundle-00000000000000bb.1234.tmp"]) {
      await Deno.mkdir(`${cacheFolder}/${name}`);
      await Deno.utime(`${cacheFolder}/${name}`, old, old);
    }
    await Deno.mkdir(`${cacheFolder}/bundle-00000000000000cc`); // recent: another version still in use
    const together = await Promise.all(
      [1, 2, 3].map(() => run(Deno.execPath(), ["run", "-A", "--no-config", bundle, "--version"], work, built.env)),
    );
    for (const r of together) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      [...Deno.readDirSync(cacheFolder)].map((e) => e.name).sort(),
      ["bundle-00000000000000cc", built.unpacked.split("/").pop()].sort(),
    );
    assert.equal([...Deno.readDirSync(built.unpacked)].length, chunks);
    // The engine works from the bundle alone: merge two committed profiles and inspect the result.
    const fixtures = new URL("./fixtures/profiles/", import.meta.url).pathname;
    for (const name of ["cpu-000.pb.gz", "cpu-001.pb.gz"]) await Deno.copyFile(fixtures + name, `${work}/${name}`);
    const merged = await run(
      Deno.execPath(),
      [
        "run",
        "-A",
        "--no-config",
        bundle,
        "merge",
        "-o",
        "merged.pb.gz",
        "cpu-000.pb.gz",
        "cpu-001.pb.gz",
      ],
      work,
      built.env,
    );
    assert.equal(merged.code, 0, merged.stderr);
    const inspect = await run(
      Deno.execPath(),
      [
        "run",
        "-A",
        "--no-config",
        bundle,
        "inspect",
        "--json",
        "merged.pb.gz",
      ],
      work,
      built.env,
    );
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.ok(JSON.parse(inspect.stdout), "inspect --json prints JSON");
    // The decode pool works from the bundle: its Web Workers run the bundle itself (there is no
    // decode_worker.ts beside it), check uploads and merge them.
    const server = await startAutopgoServer([], {
      command: built.command,
      cwd: work,
      env: built.env,
    });
    try {
      const pool = await server.waitFor(/decode pool: .*module .*\/bundle-[0-9a-f]+\/decode_worker-\w+\.js/);
      assert.ok(pool, "the workers run the unpacked decode worker module");
      const profile = await Deno.readFile(`${work}/cpu-000.pb.gz`);
      const accepted = await fetch(`${server.url}/api/profile/bundled`, { method: "POST", body: profile });
      assert.equal(accepted.status, 201, await accepted.text());
      const crafted = wideLocationProfile({ lines: 4_096, samples: 1_000 });
      const refused = await fetch(`${server.url}/api/profile/bundled`, { method: "POST", body: crafted as BodyInit });
      assert.equal(refused.status, 400);
      assert.match((await refused.json()).message, /more than 512 lines/);
      await eventually("the bundled worker merges the upload", async () => {
        const response = await fetch(`${server.url}/api/profile/bundled`);
        await response.body?.cancel();
        return response.status === 200;
      });
    } finally {
      assert.equal(await server.close(), 0, "the bundled server exits cleanly");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
