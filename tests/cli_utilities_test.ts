/**
 * End-to-end tests of `upload`, `download`, `list`, `delete` and `clean` against a real
 * `autopgo server` process (embedded store and worker) on 127.0.0.1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runAutopgo } from "./support/cli.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { eventually, startAutopgoServer } from "./support/autopgo_processes.ts";
import { ApiClient } from "../core/api_client.ts";
import { decodeProfile } from "../core/pprof/mod.ts";

const profiles = committedProfiles();

/** Uploads `file` for `app` through the CLI and waits until the merged profile is listed. */
async function uploadAndWait(url: string, app: string, file: string, env: Record<string, string> = {}) {
  const run = await runAutopgo(["upload", file, "--app", app, "--api-url", url], { env });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`^Uploaded .* for '${app}' as ${app}/staging/\\S+\\n$`));
  const client = new ApiClient({ baseUrl: url, token: env.AUTOPGO_TOKEN });
  return await eventually(`merged profile of ${app}`, async () => (await client.list()).find((p) => p.key === app));
}

Deno.test("utilities: upload, list, download (file and stdout), delete, clean against the real server", async () => {
  const server = await startAutopgoServer();
  const dir = await Deno.makeTempDir({ prefix: "autopgo-cli-test-" });
  try {
    const env = { AUTOPGO_API_URL: server.url };
    const alpha = await uploadAndWait(server.url, "alpha", profiles.cpu[0]);
    const beta = await uploadAndWait(server.url, "beta", profiles.cpu[1], { AUTOPGO_APP: "ignored-by-flag" });

    // list: human sizes, ages and uploads merged; --json keeps raw numbers
    const table = await runAutopgo(["list"], { env });
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trimEnd().split("\n");
    assert.match(rows[0], /^NAME {2,}SIZE {2,}UPDATED {2,}UPLOADS MERGED$/);
    assert.match(rows[1], /^alpha {2,}[\d.]+ KiB {2,}\d+s ago {2,}1$/);
    assert.match(rows[2], /^beta {2,}[\d.]+ KiB {2,}\d+s ago {2,}1$/);
    assert.equal(rows[0].indexOf("SIZE"), rows[1].search(/[\d.]+ KiB/), "columns aligned");
    const json = await runAutopgo(["list", "--json"], { env });
    const listed = JSON.parse(json.stdout).profiles;
    assert.deepEqual(listed.map((p: { key: string }) => p.key), ["alpha", "beta"]);
    assert.equal(listed[0].size, alpha.size);
    assert.equal(listed[0].uploadsMerged, 1);

    // download to a file (AUTOPGO_OUTPUT) and to stdout: same bytes, a valid profile
    const out = `${dir}/alpha.pgo`;
    const dl = await runAutopgo(["download", "alpha"], { env: { ...env, AUTOPGO_OUTPUT: out } });
    assert.equal(dl.code, 0, dl.stderr);
    const fileBytes = await Deno.readFile(out);
    assert.equal(fileBytes.byteLength, alpha.size);
    assert.ok(decodeProfile(fileBytes).sample.length > 0);
    const stdout = await runAutopgo(["download", "alpha", "-o", "-"], { env });
    assert.equal(stdout.code, 0, stdout.stderr);
    assert.deepEqual(stdout.stdoutBytes, fileBytes);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["alpha.pgo"], "no temp files left");

    // the API client against the real server: ETag / If-None-Match → 304
    const api = new ApiClient({ baseUrl: server.url });
    const fresh = await api.download("alpha");
    assert.equal(fresh.notModified, false);
    if (!fresh.notModified) assert.deepEqual(new Uint8Array(await new Response(fresh.body).arrayBuffer()), fileBytes);
    assert.ok(fresh.etag, "the server sends an ETag");
    assert.deepEqual(await api.download("alpha", { ifNoneMatch: fresh.etag }), { notModified: true, etag: fresh.etag });

    // a failed download never touches the output file
    const keep = `${dir}/keep.pgo`;
    await Deno.writeTextFile(keep, "previous profile");
    const missing = await runAutopgo(["download", "nope", "-o", keep], { env });
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'autopgo: no merged profile for app "nope" yet (see `autopgo list`)\n');
    assert.equal(await Deno.readTextFile(keep), "previous profile");
    const absent = `${dir}/absent.pgo`;
    const ignored = await runAutopgo(["download", "nope", "-o", absent, "--ignore-errors"], { env });
    assert.equal(ignored.code, 0);
    assert.match(ignored.stderr, /^autopgo: warning: no merged profile for app "nope" yet .*--ignore-errors\)\n$/);
    await assert.rejects(Deno.stat(absent), Deno.errors.NotFound);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["alpha.pgo", "keep.pgo"]);
    // nor does an answer that is no profile (a proxy's login page with 200)
    const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("<!DOCTYPE html>"));
    try {
      const page = await runAutopgo(["download", "alpha", "-o", keep, "-u", `http://127.0.0.1:${proxy.addr.port}`]);
      assert.equal(page.code, 1);
      assert.equal(
        page.stderr,
        "autopgo: download alpha: the server's answer (15 bytes) is not a profile; nothing was written\n",
      );
      assert.equal(await Deno.readTextFile(keep), "previous profile");
    } finally {
      await proxy.shutdown();
    }

    // clean: strictly larger than; fresh profiles are not older than an hour
    const largest = Math.max(alpha.size, beta.size);
    const none = await runAutopgo(["clean", "--larger-than", String(largest), "--older-than", "1h"], { env });
    assert.equal(none.code, 0, none.stderr);
    assert.equal(
      none.stdout,
      `Nothing to delete: no profile is larger than ${largest} bytes or was last updated more than 1h ago\n`,
      "a size equal to the threshold is kept (strict >), fresh profiles are kept",
    );
    const dry = await runAutopgo(["clean", "-s", "1", "--dry-run"], { env });
    assert.match(dry.stdout, /Would delete profile 'alpha'/);
    assert.equal((await new ApiClient({ baseUrl: server.url }).list()).length, 2);

    // delete
    const del = await runAutopgo(["delete", "beta"], { env });
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout, "Deleted profile 'beta'\n");
    const client = new ApiClient({ baseUrl: server.url });
    await eventually("beta gone", async () => !(await client.list()).some((p) => p.key === "beta"));

    const cleaned = await runAutopgo(["clean", "-s", "1"], { env });
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.equal(cleaned.stdout, "Deleted profile 'alpha'\n");
    await eventually("alpha gone", async () => (await client.list()).length === 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
    assert.equal(await server.close(), 0, "server exits 0 on SIGTERM");
  }
});

Deno.test("utilities: user errors are one line with a non-zero exit", async () => {
  const server = await startAutopgoServer();
  const dir = await Deno.makeTempDir({ prefix: "autopgo-cli-test-" });
  try {
    const env = { AUTOPGO_API_URL: server.url };
    const junk = `${dir}/junk.pb.gz`;
    await Deno.writeTextFile(junk, "this is not a profile");
    const cases: [string[], RegExp][] = [
      [["upload", profiles.cpu[0]], /^autopgo: upload: --app is required: pass --app <name> or set AUTOPGO_APP/],
      [["upload", profiles.cpu[0], "-a", "Bad_Name"], /app name "Bad_Name" may only contain/],
      [["upload", `${dir}/missing.pb.gz`, "-a", "x"], /^autopgo: file .*missing\.pb\.gz does not exist$/],
      [
        ["upload", junk, "-a", "x"],
        /^autopgo: .*junk\.pb\.gz is not a pprof profile \(expected gzip or protobuf\): .+$/,
      ],
      [["upload", profiles.heap, "-a", "x"], /^autopgo: upload x: server answered 4\d\d .+$/],
      [["download", "UPPER"], /app name "UPPER" may only contain/],
      [["delete", "never-uploaded"], /^autopgo: no profile for app "never-uploaded" to delete \(see `autopgo list`\)$/],
      [["clean"], /^autopgo: one of --older-than or --larger-than must be set above 0 \(see `autopgo clean --help`\)$/],
      [["clean", "-d", "soon"], /invalid duration "soon"/],
      [["list", "-u", "localhost:8080"], /^autopgo: invalid API URL "localhost:8080"/],
    ];
    for (const [args, expected] of cases) {
      const run = await runAutopgo(args, { env });
      assert.notEqual(run.code, 0, `${args.join(" ")} should fail`);
      const lines = run.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `${args.join(" ")}: one line, got ${JSON.stringify(run.stderr)}`);
      assert.match(lines[0], expected, args.join(" "));
    }
    const down = await startAutopgoServer();
    const downUrl = down.url;
    await down.close();
    const unreachable = await runAutopgo(["list", "-u", downUrl]);
    assert.equal(unreachable.code, 1);
    assert.match(
      unreachable.stderr,
      /^autopgo: list profiles: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused — is the server running\? \(--api-url \/ AUTOPGO_API_URL\)\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await server.close();
  }
});

Deno.test("utilities: bearer token and an --api-url path prefix behind a proxy", async () => {
  const server = await startAutopgoServer(["--token", "s3cret"]);
  // A reverse proxy publishing the API under /autopgo/ (the original client dropped such prefixes).
  const ac = new AbortController();
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    if (!url.pathname.startsWith("/autopgo/")) return new Response("404 page not found\n", { status: 404 });
    const upstream = new URL(url.pathname.slice("/autopgo".length) + url.search, server.url);
    return fetch(upstream, { method: req.method, headers: req.headers, body: req.body });
  });
  const prefixed = `http://127.0.0.1:${proxy.addr.port}/autopgo`;
  try {
    const noToken = await runAutopgo(["upload", profiles.cpu[0], "-a", "secure", "-u", prefixed]);
    assert.equal(noToken.code, 1);
    assert.match(
      noToken.stderr,
      /^autopgo: upload secure: server answered 401 Unauthorized.* \(--token \/ AUTOPGO_TOKEN\)\n$/,
    );
    await uploadAndWait(prefixed, "secure", profiles.cpu[0], { AUTOPGO_TOKEN: "s3cret" });
    const list = await runAutopgo(["list", "--json", "--token", "s3cret", "-u", prefixed]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout).profiles.map((p: { key: string }) => p.key), ["secure"]);
    const wrongPrefix = await runAutopgo(["list", "--token", "s3cret", "-u", `http://127.0.0.1:${proxy.addr.port}`]);
    assert.match(
      wrongPrefix.stderr,
      /^autopgo: list profiles: server answered 404 Not Found: 404 page not found \(no autopgo API at http:\/\/127\.0\.0\.1:\d+\/api\/profile\)\n$/,
    );
    // A 404 that is not the API's own is a wrong URL, never "no such profile".
    const dir = await Deno.makeTempDir();
    try {
      const download = await runAutopgo([
        "download",
        "secure",
        "-o",
        `${dir}/x.pgo`,
        "-u",
        `http://127.0.0.1:${proxy.addr.port}`,
      ]);
      assert.equal(download.code, 1);
      assert.match(
        download.stderr,
        /^autopgo: download secure: server answered 404 Not Found: 404 page not found \(no autopgo API at http:\/\/127\.0\.0\.1:\d+\/api\/profile\/secure\)\n$/,
      );
      const removal = await runAutopgo(["delete", "secure", "-u", `http://127.0.0.1:${proxy.addr.port}`]);
      assert.equal(removal.code, 1);
      assert.match(removal.stderr, /^autopgo: delete secure: server answered 404 Not Found: .*\(no autopgo API at /);
      // The API's own 404 still reads as a missing profile.
      const absent = await runAutopgo([
        "download",
        "absent",
        "-o",
        `${dir}/x.pgo`,
        "--token",
        "s3cret",
        "-u",
        prefixed,
      ]);
      assert.equal(absent.stderr, 'autopgo: no merged profile for app "absent" yet (see `autopgo list`)\n');
      // Our server's own 404 for a path it has no route for is a wrong URL too.
      const wrongPath = await runAutopgo(["download", "secure", "-o", `${dir}/x.pgo`, "-u", `${server.url}/wrong`]);
      assert.match(
        wrongPath.stderr,
        /^autopgo: download secure: server answered 404 Not Found: Not Found: no route for GET \/wrong\/api\/profile\/secure \(no autopgo API at http:\/\/127\.0\.0\.1:\d+\/wrong\/api\/profile\/secure\)\n$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    ac.abort();
    await proxy.finished;
    await server.close();
  }
});
