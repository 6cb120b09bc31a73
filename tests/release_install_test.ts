/**
 * install.sh against a local release server laid out like GitHub's (support/release_server.ts),
 * serving a release built by compile.sh (support/release_assets.ts: autopgo.js, install.sh and
 * SHA256SUMS are real; the five binaries are STAND-IN scripts that run autopgo.js, since denort
 * cannot be downloaded here). Other systems are simulated with a fake `uname` on PATH.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { VERSION } from "../cmd/version.ts";
import { assetName, buildRelease, hostTarget, REPO_ROOT, run, tamperedCopy } from "./support/release_assets.ts";
import { startReleaseServer } from "./support/release_server.ts";
import { freePort } from "./support/services/service.ts";

const TAG = `v${VERSION}`;
const BAD_TAG = "v0.0.9-badsum";

/** A directory holding an executable `uname` that reports `os` and `machine`. */
async function fakeUname(root: string, os: string, machine: string): Promise<string> {
  const dir = join(root, `uname-${os}-${machine}`);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "uname"),
    `#!/bin/sh\ncase "$1" in -m) echo '${machine}' ;; *) echo '${os}' ;; esac\n`,
  );
  await Deno.chmod(join(dir, "uname"), 0o755);
  return dir;
}

/** A PATH directory with links to the tools install.sh needs, but no curl: the wget fallback. */
async function pathWithoutCurl(root: string): Promise<string> {
  const dir = join(root, "no-curl");
  await Deno.mkdir(dir);
  const tools = ["sh", "uname", "mktemp", "awk", "cut", "sha256sum", "wget", "mkdir", "cp", "chmod", "mv", "rm"];
  for (const tool of [...tools, "sed", "tail", "tr", "head", "grep", "ldd", "cat", "printf"]) {
    const found = (await run("sh", ["-c", `command -v ${tool}`])).stdout.trim();
    if (found.startsWith("/")) await Deno.symlink(found, join(dir, tool));
  }
  return dir;
}

Deno.test("install.sh installs verified release binaries from a GitHub-like release server", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "autopgo-install-test-" });
  const built = await buildRelease(join(root, "release"), { AUTOPGO_REPO: "acme/autopgo" });
  await tamperedCopy(built.dir, join(root, "bad"), hostTarget());
  const server = startReleaseServer({
    repo: "acme/autopgo",
    releases: { [TAG]: built.dir, [BAD_TAG]: join(root, "bad") },
    latest: TAG,
  });
  const installSh = join(built.dir, "install.sh");
  const env = { AUTOPGO_RELEASE_URL: server.releasesUrl, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  const prefix = join(root, "prefix");
  const installed = join(prefix, "bin", "autopgo");
  try {
    await t.step("install.sh installs the latest release for this OS and architecture, and it runs", async () => {
      const r = await run("sh", [installSh, "--prefix", prefix], { env });
      assert.equal(r.code, 0, r.stderr);
      const host = assetName(hostTarget());
      assert.deepEqual(
        await Deno.readFile(installed),
        await Deno.readFile(join(built.dir, host)),
        "the host's asset was installed byte for byte",
      );
      for (const path of ["latest", `download/${TAG}/SHA256SUMS`, `download/${TAG}/${host}`]) {
        assert.ok(server.requests.includes(`/acme/autopgo/releases/${path}`), `requested ${path}`);
      }
      assert.match(r.stderr, new RegExp(`installed autopgo ${VERSION} \\(commit [0-9a-f]{7}.*\\) to ${installed}`));
      assert.match(r.stderr, /is not on your PATH/);
      const version = await run(installed, ["--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.match(
        version.stdout,
        new RegExp(`^autopgo ${VERSION} \\(commit [0-9a-f]{7}[^,]*, deno ${Deno.version.deno}\\)\\n$`),
      );
    });

    await t.step("install.sh refuses a binary whose checksum does not match and keeps the installed one", async () => {
      const before = await Deno.readFile(installed);
      const r = await run("sh", [installSh, "--prefix", prefix, "--version", BAD_TAG], { env });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `^autopgo install: error: checksum mismatch for ${
            assetName(hostTarget())
          } of ${BAD_TAG} .*: not installed\\n$`,
        ),
      );
      assert.deepEqual(await Deno.readFile(installed), before);
      const leftovers = [...Deno.readDirSync(join(prefix, "bin"))].map((e) => e.name);
      assert.deepEqual(leftovers, ["autopgo"]);
    });

    await t.step("install.sh names an unknown OS in one line and downloads nothing", async () => {
      const seen = server.requests.length;
      const uname = await fakeUname(root, "FreeBSD", "amd64");
      const r = await run("sh", [installSh, "--prefix", join(root, "freebsd")], {
        env: { ...env, PATH: `${uname}:${env.PATH}` },
      });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^autopgo install: error: no autopgo binary for FreeBSD on amd64: .*Linux and macOS .* autopgo\.js\n$/,
      );
      assert.equal(server.requests.length, seen);
    });

    await t.step("install.sh maps Darwin arm64 to the aarch64-apple-darwin binary", async () => {
      const uname = await fakeUname(root, "Darwin", "arm64");
      const r = await run("sh", [installSh, "--resolve", "--version", VERSION], {
        env: { ...env, PATH: `${uname}:${env.PATH}` },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `tag=${TAG}\ntarget=aarch64-apple-darwin\nasset=autopgo-aarch64-apple-darwin\n`);
      const bin = join(root, "darwin-bin");
      const install = await run("sh", [installSh, "--bin-dir", bin, "--version", VERSION], {
        env: { ...env, PATH: `${uname}:${env.PATH}` },
      });
      assert.equal(install.code, 0, install.stderr);
      assert.deepEqual(
        await Deno.readFile(join(bin, "autopgo")),
        await Deno.readFile(join(built.dir, "autopgo-aarch64-apple-darwin")),
      );
    });

    await t.step("install.sh names a missing release and an unreachable server in one line", async () => {
      const missing = await run("sh", [installSh, "--prefix", join(root, "p2"), "--version", "v9.9.9"], { env });
      assert.equal(missing.code, 1);
      assert.match(
        missing.stderr,
        /^autopgo install: error: .*\/download\/v9\.9\.9\/SHA256SUMS was not found \(HTTP 404\).*\n$/,
      );
      const down = `http://127.0.0.1:${freePort()}/acme/autopgo/releases`;
      const unreachable = await run("sh", [installSh, "--prefix", join(root, "p2")], {
        env: { ...env, AUTOPGO_RELEASE_URL: down },
      });
      assert.equal(unreachable.code, 1);
      assert.equal(unreachable.stderr, `autopgo install: error: cannot reach ${down}/latest\n`);
      assert.ok(!(await exists(join(root, "p2"))), "nothing was created");
    });

    await t.step("install.sh works with wget when curl is missing", async () => {
      const path = await pathWithoutCurl(root);
      const bin = join(root, "wget-bin");
      const r = await run("sh", [installSh, "--bin-dir", bin], { env: { ...env, PATH: path } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        await Deno.readFile(join(bin, "autopgo")),
        await Deno.readFile(join(built.dir, assetName(hostTarget()))),
      );
      const bad = await run("sh", [installSh, "--bin-dir", join(root, "wget-bad"), "--version", BAD_TAG], {
        env: { ...env, PATH: path },
      });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /checksum mismatch/);
    });

    await t.step("install.sh without a repository or release URL says what to set", async () => {
      const r = await run("sh", [join(REPO_ROOT, "install.sh"), "--resolve"], { env: { PATH: env.PATH } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^autopgo install: error: which repository\? set AUTOPGO_REPO=owner\/name.*\n$/);
    });
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
