/**
 * deploy/systemd: every unit passes `systemd-analyze verify`, carries the settings the README
 * promises (environment file, restart, state directory, reload, stop timeout, hardening), has the
 * exposure score the README records (`systemd-analyze security --offline`), names only variables
 * autopgo reads in its environment files, and its commands run: the server and a scrape instance
 * are started as systemd would start them (ExecStart, Environment=, EnvironmentFile=, specifiers),
 * the scraper reloads on ExecReload's SIGHUP and both stop on SIGTERM with exit 0.
 *
 * Needs `systemd-analyze` (Debian package `systemd`); without it the first two tests print why
 * they skip, except under CI=true, where that is a failure.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { isCi } from "./support/go.ts";
import { runAutopgo } from "./support/cli.ts";
import { spawnAutopgo } from "./support/autopgo_processes.ts";
import { committedProfiles } from "./support/fixtures.ts";

const DIR = new URL("../deploy/systemd/", import.meta.url).pathname;
const README = new URL("../README.md", import.meta.url).pathname;
const BINARY = "/usr/local/bin/autopgo";
/** Unit file → the unit name to check (a template is checked as an instance). */
const UNITS: Record<string, string> = {
  "autopgo-server.service": "autopgo-server.service",
  "autopgo-worker.service": "autopgo-worker.service",
  "autopgo-scrape@.service": "autopgo-scrape@my-service.service",
};

/** `Key=value` lines of a unit file by key (comments and section headers skipped). */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], [...out.get(m[1]) ?? [], m[2]]);
  }
  return out;
}

/** NAME=value lines of an environment file; with `commented`, also `#NAME=value` examples. */
function envFile(text: string, commented = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = (commented ? /^#?([A-Z][A-Z0-9_]*)=(.*)$/ : /^([A-Z][A-Z0-9_]*)=(.*)$/).exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function systemdAnalyze(): string | undefined {
  for (const path of ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

function skipWithoutSystemd(name: string): string | undefined {
  const tool = systemdAnalyze();
  if (tool) return tool;
  if (isCi()) throw new Error(`${name}: systemd-analyze not found (apt-get install -y systemd)`);
  console.log(`skipping ${name}: systemd-analyze not found (apt-get install -y systemd)`);
  return undefined;
}

async function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", env: { SYSTEMD_PAGER: "" } })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The units copied to a temp dir with ExecStart pointing at an executable stub (verify checks the binary). */
async function unitsWithStub(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "autopgo-units-" });
  const stub = join(dir, "autopgo");
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(stub, 0o755);
  for (const file of Object.keys(UNITS)) {
    const text = await Deno.readTextFile(join(DIR, file));
    await Deno.writeTextFile(join(dir, file), text.replaceAll(BINARY, stub));
  }
  return dir;
}

Deno.test("systemd units pass systemd-analyze verify and carry the promised settings", async () => {
  const tool = skipWithoutSystemd("systemd units pass systemd-analyze verify");
  if (!tool) return;
  const dir = await unitsWithStub();
  try {
    for (const [file, unit] of Object.entries(UNITS)) {
      const r = await run(tool, ["verify", "--man=no", join(dir, unit)]);
      assert.equal(r.code, 0, `${unit}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), "", `${unit} verifies without warnings`);

      const d = directives(await Deno.readTextFile(join(DIR, file)));
      const one = (key: string) => d.get(key)?.at(-1);
      assert.ok(d.get("ExecStart")?.[0].startsWith(`${BINARY} `), `${file}: ExecStart runs ${BINARY}`);
      assert.ok((d.get("EnvironmentFile") ?? []).some((f) => f.startsWith("-/etc/autopgo/")), `${file}: env file`);
      assert.equal(one("Restart"), "on-failure", file);
      assert.match(one("TimeoutStopSec") ?? "", /^\d+s$/, file);
      for (
        const [key, value] of Object.entries({
          DynamicUser: "yes",
          User: "autopgo",
          NoNewPrivileges: "yes",
          ProtectSystem: "strict",
          ProtectHome: "yes",
          PrivateTmp: "yes",
          RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
          CapabilityBoundingSet: "",
        })
      ) {
        assert.equal(one(key), value, `${file}: ${key}`);
      }
      assert.equal(d.has("MemoryDenyWriteExecute"), false, `${file}: V8 needs W+X memory for its JIT`);
      if (file === "autopgo-scrape@.service") {
        assert.equal(one("ExecReload"), "/bin/kill -HUP $MAINPID");
        assert.match(one("ExecStart")!, /--app %i \/etc\/autopgo\/scrape\/%i\.json$/);
      } else {
        assert.equal(one("StateDirectory"), "autopgo", file);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd units: exposure of systemd-analyze security --offline is at most 2 and the README's", async () => {
  const tool = skipWithoutSystemd("systemd exposure scores");
  if (!tool) return;
  const help = await run(tool, ["security", "--help"]);
  if (!/--offline/.test(help.stdout)) {
    console.log("skipping systemd exposure scores: this systemd-analyze has no security --offline");
    return;
  }
  const dir = await unitsWithStub();
  const readme = await Deno.readTextFile(README);
  // Scores are weighted per systemd release: compare with the README only on the release it names.
  const recorded = /security --offline=true` \(systemd (\d+)/.exec(readme)?.[1];
  const installed = /^systemd (\d+)/.exec((await run(tool, ["--version"])).stdout)?.[1];
  assert.ok(recorded && installed, "the README names the systemd release of its scores");
  try {
    for (const unit of Object.values(UNITS)) {
      const r = await run(tool, ["security", "--offline=true", "--no-pager", join(dir, unit)]);
      const m = /Overall exposure level for \S+: (\d+\.\d) (\w+)/.exec(r.stdout);
      assert.ok(m, `${unit}: ${r.stdout.slice(-300)} ${r.stderr}`);
      assert.ok(Number(m[1]) <= 2, `${unit}: exposure ${m[1]} ${m[2]}`);
      const name = unit.replace("@my-service", "@");
      const row = new RegExp(`\\|\\s*\`${name.replaceAll(".", "\\.")}\`\\s*\\|\\s*${m[1]} ${m[2]}\\s*\\|`);
      if (installed === recorded) assert.match(readme, row, `README records ${unit}: ${m[1]} ${m[2]}`);
      else console.log(`${unit}: exposure ${m[1]} ${m[2]} on systemd ${installed} (README: systemd ${recorded})`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd environment files name only variables autopgo reads", async () => {
  const files: [string, string][] = [
    ["server.env", "server"],
    ["worker.env", "worker"],
    ["scrape.env", "scrape"],
    ["scrape/my-service.env", "scrape"],
  ];
  for (const [file, component] of files) {
    const help = (await runAutopgo([component, "--help"])).stdout.replace(/\s+/g, " ");
    const names = Object.keys(envFile(await Deno.readTextFile(join(DIR, file)), true));
    assert.ok(names.length > 0, file);
    for (const name of names.filter((n) => n.startsWith("AUTOPGO_"))) {
      assert.ok(help.includes(name), `${file}: ${name} is an option of autopgo ${component}`);
    }
  }
});

Deno.test({
  name: "systemd units: the server and a scrape instance run as their units start them; reload and stop",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const state = await Deno.makeTempDir({ prefix: "autopgo-units-state-" });
  const etc = await Deno.makeTempDir({ prefix: "autopgo-units-etc-" });
  const profile = await Deno.readFile(committedProfiles().cpu[0]);
  const target = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => new Response(profile));
  /** ExecStart of a unit as argv for `deno run main.ts`, with systemd's specifiers expanded. */
  const command = (d: Map<string, string[]>, instance = ""): string[] =>
    d.get("ExecStart")![0].replaceAll("%i", instance).replaceAll("%S", state).replaceAll("/etc/autopgo", etc)
      .split(" ").slice(1);
  /** Environment= then every EnvironmentFile= (the example files), as systemd applies them. */
  const environment = async (d: Map<string, string[]>, instance = ""): Promise<Record<string, string>> => {
    const env: Record<string, string> = {};
    for (const e of d.get("Environment") ?? []) {
      const [k, ...v] = e.replaceAll("%S", state).split("=");
      env[k] = v.join("=");
    }
    for (const f of d.get("EnvironmentFile") ?? []) {
      const path = f.replace(/^-/, "").replaceAll("%i", instance).replace("/etc/autopgo/", DIR);
      Object.assign(env, envFile(await Deno.readTextFile(path)));
    }
    return env;
  };
  try {
    const serverUnit = directives(await Deno.readTextFile(join(DIR, "autopgo-server.service")));
    const server = spawnAutopgo(command(serverUnit), {
      env: { ...await environment(serverUnit), AUTOPGO_SERVER_PORT: "0", AUTOPGO_SERVER_HOST: "127.0.0.1" },
    });
    let url: string;
    try {
      url = (await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1];
      assert.ok((await Deno.stat(join(state, "autopgo", "profiles"))).isDirectory, "the store is in StateDirectory");

      const scrapeUnit = directives(await Deno.readTextFile(join(DIR, "autopgo-scrape@.service")));
      await Deno.mkdir(join(etc, "scrape"));
      await Deno.writeTextFile(
        join(etc, "scrape", "my-service.json"),
        JSON.stringify([{ address: `http://127.0.0.1:${target.addr.port}` }]),
      );
      const env = await environment(scrapeUnit, "my-service");
      assert.equal(env.AUTOPGO_SCRAPE_SAMPLE_SIZE, "2");
      const scraper = spawnAutopgo(command(scrapeUnit, "my-service"), {
        env: { ...env, AUTOPGO_SCRAPE_API_URL: url, AUTOPGO_SCRAPE_PORT: "0" },
      });
      try {
        await scraper.waitFor(/scraping "?my-service"? from "?file:\/\//);
        scraper.child.kill("SIGHUP"); // ExecReload=/bin/kill -HUP $MAINPID
        await scraper.waitFor(/reloaded 1 targets/);
      } finally {
        assert.equal(await scraper.stop("SIGTERM", 30_000), 0, scraper.lines.join("\n"));
      }
    } finally {
      assert.equal(await server.stop("SIGTERM", 150_000), 0, server.lines.join("\n"));
    }
  } finally {
    await target.shutdown();
    await Deno.remove(state, { recursive: true });
    await Deno.remove(etc, { recursive: true });
  }
});

Deno.test("systemd install steps in the README copy files that exist and enable the units it ships", async () => {
  const readme = await Deno.readTextFile(README);
  const start = readme.indexOf("## Run on VMs with systemd");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const steps = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join("\n");
  const paths = [...steps.matchAll(/'?(deploy\/systemd\/[^\s']+)'?/g)].map((m) => m[1]);
  assert.ok(paths.length >= 8, paths.join(" "));
  for (const path of paths) assert.ok((await Deno.stat(new URL(`../${path}`, import.meta.url))).isFile, path);
  for (const unit of ["autopgo-server.service", "autopgo-worker.service", "autopgo-scrape@my-service.service"]) {
    assert.match(steps, new RegExp(`systemctl enable --now ${unit.replace(".", "\\.")}`));
  }
  assert.match(steps, /systemctl reload autopgo-scrape@my-service/);
});
