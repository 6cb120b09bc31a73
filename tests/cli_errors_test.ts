/**
 * Every error a person is likely to hit is one line in the `autopgo: …` style that says what to
 * do next, from the real CLI: the five the issue names (no merged profile yet, a server that
 * cannot be reached, a port in use, a missing output folder, bytes that are no profile) and the
 * most likely mistakes after them (argument errors included, which commander would otherwise
 * print in its own style). In `--log-format json` mode the same errors are one JSON line.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runAutopgo } from "./support/cli.ts";
import { spawnAutopgo, startAutopgoServer } from "./support/autopgo_processes.ts";
import { committedProfiles } from "./support/fixtures.ts";

/** One mistake: the arguments, extra environment, and what the single stderr line must say. */
interface Case {
  what: string;
  args: string[];
  env?: Record<string, string>;
  line: RegExp;
}

function assertOneLine(run: { code: number; stderr: string }, c: Case): void {
  assert.notEqual(run.code, 0, `${c.what}: should fail`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${c.what}: one line, got ${JSON.stringify(run.stderr)}`);
  assert.match(lines[0], /^autopgo: /, c.what);
  assert.match(lines[0], c.line, c.what);
}

/** A port nothing listens on (bound, then released). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("CLI errors: one line each, saying what to do next", async () => {
  const server = await startAutopgoServer(["--token", "s3cret"]);
  const dir = await Deno.makeTempDir({ prefix: "autopgo-cli-errors-" });
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const junk = join(dir, "junk.pb.gz");
    await Deno.writeTextFile(junk, "this is not a profile\n");
    const profile = committedProfiles().cpu[0];
    const down = `http://127.0.0.1:${closedPort()}`;
    const api = { AUTOPGO_API_URL: server.url, AUTOPGO_TOKEN: "s3cret" };
    const port = String(held.addr.port);
    const cases: Case[] = [
      // The five named in the issue.
      {
        what: "download before any upload",
        args: ["download", "never-uploaded", "-o", join(dir, "x.pgo")],
        env: api,
        line: /^autopgo: no merged profile for app "never-uploaded" yet \(see `autopgo list`\)$/,
      },
      {
        what: "server not running",
        args: ["list", "-u", down],
        line: new RegExp(
          `^autopgo: list profiles: cannot reach ${down}: connection refused — is the server running\\? ` +
            `\\(--api-url / AUTOPGO_API_URL\\)$`,
        ),
      },
      {
        what: "port taken",
        args: ["server", "--host", "127.0.0.1", "--port", port, "--data-dir", join(dir, "data")],
        line: new RegExp(`^autopgo: port ${port} is already in use \\(--port / AUTOPGO_SERVER_PORT\\)`),
      },
      {
        what: "output folder missing",
        args: ["download", "any", "-o", join(dir, "no", "such", "default.pgo")],
        env: api,
        line: new RegExp(`^autopgo: output folder ${dir}/no/such does not exist$`),
      },
      {
        what: "not a profile",
        args: ["inspect", junk],
        line: /^autopgo: inspect ".*junk\.pb\.gz": not a pprof profile \(expected gzip or protobuf\): /,
      },
      // The next most likely mistakes.
      {
        what: "required option missing",
        args: ["upload", profile],
        env: api,
        line:
          /^autopgo: upload: --app is required: pass --app <name> or set AUTOPGO_APP \(see `autopgo upload --help`\)$/,
      },
      {
        what: "command misspelt",
        args: ["dowload", "shop"],
        line: /^autopgo: unknown command "dowload" \(did you mean download\?\) \(see `autopgo --help`\)$/,
      },
      {
        what: "option misspelt",
        args: ["list", "--jsn"],
        line: /^autopgo: list: unknown option '--jsn' \(did you mean --json\?\) \(see `autopgo list --help`\)$/,
      },
      {
        what: "argument missing",
        args: ["inspect"],
        line: /^autopgo: inspect: missing <profile> \(see `autopgo inspect --help`\)$/,
      },
      {
        what: "bad duration",
        args: ["clean", "--older-than", "3x"],
        line: /^autopgo: clean: --older-than "3x": invalid duration "3x"/,
      },
      {
        what: "bad app name",
        args: ["download", "Bad_Name"],
        line: /^autopgo: download: <app> "Bad_Name": app name "Bad_Name" may only contain/,
      },
      {
        what: "token missing",
        args: ["list", "-u", server.url],
        line: /^autopgo: list profiles: server answered 401 .*\(--token \/ AUTOPGO_TOKEN\)$/,
      },
      {
        what: "upload file missing",
        args: ["upload", join(dir, "missing.pb.gz"), "-a", "shop"],
        env: api,
        line: /^autopgo: file .*missing\.pb\.gz does not exist$/,
      },
      {
        what: "upload of bytes that are no profile",
        args: ["upload", junk, "-a", "shop"],
        env: api,
        line: /^autopgo: .*junk\.pb\.gz is not a pprof profile \(expected gzip or protobuf\): /,
      },
      {
        what: "worker without URLs",
        args: ["worker", "--port", "0"],
        line:
          /^autopgo: worker: --event-reader-url \(or AUTOPGO_WORKER_EVENT_READER_URL or .*\) is required; .*autopgo server/,
      },
      {
        what: "scrape in file mode without a targets file",
        args: ["scrape", "-a", "shop", "-s", "1", "--port", "0", "--host", "127.0.0.1"],
        line: /^autopgo: file mode needs the path of a targets file: autopgo scrape <targets\.json>$/,
      },
      {
        what: "API URL without a scheme",
        args: ["list", "-u", "localhost:8080"],
        line: /^autopgo: invalid API URL "localhost:8080": /,
      },
      {
        what: "delete of an app that has no profile",
        args: ["delete", "never-uploaded"],
        env: api,
        line: /^autopgo: no profile for app "never-uploaded" to delete \(see `autopgo list`\)$/,
      },
      {
        what: "clean without a rule",
        args: ["clean"],
        env: api,
        line: /^autopgo: one of --older-than or --larger-than must be set above 0 \(see `autopgo clean --help`\)$/,
      },
      {
        what: "clean with a rule of 0, which means unset",
        args: ["clean", "--older-than", "0"],
        env: api,
        line: /^autopgo: --older-than 0 sets no rule \(0 means unset, as in the original\); one of .* above 0 /,
      },
      {
        what: "help for a command that does not exist",
        args: ["help", "bogus"],
        env: api,
        line: /^autopgo: unknown command "bogus" \(see `autopgo --help`\)$/,
      },
      {
        what: "a word after --version",
        args: ["--version", "extra"],
        env: api,
        line: /^autopgo: unknown command "extra" \(see `autopgo --help`\)$/,
      },
      {
        what: "a size beyond what a number holds exactly",
        args: ["server", "--max-upload-size", "99999999999999999999"],
        env: api,
        line: /^autopgo: server: --max-upload-size "99999999999999999999": size is too large \(at most 8 PiB\)/,
      },
    ];
    for (const c of cases) assertOneLine(await runAutopgo(c.args, { env: c.env }), c);
  } finally {
    held.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI errors: the worker names a taken port before it logs that it is starting", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir({ prefix: "autopgo-cli-errors-" });
  try {
    const worker = spawnAutopgo([
      "worker",
      "--host",
      "127.0.0.1",
      "--port",
      String(held.addr.port),
      "--event-reader-url",
      "mem://errors",
      "--event-writer-url",
      "mem://errors",
      "--blob-store-url",
      `file://${dir}`,
    ]);
    // The worker exits by itself; SIGCONT (harmless) only makes stop() wait for that and the last line.
    assert.equal(await worker.stop("SIGCONT"), 1);
    assert.deepEqual(worker.lines.filter((l) => l !== ""), [
      `autopgo: port ${held.addr.port} is already in use (--port / AUTOPGO_WORKER_PORT): ` +
      "stop what holds it or choose another port",
    ]);
  } finally {
    held.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI errors: in JSON log mode every error is one JSON line", async () => {
  for (
    const [args, env, message] of [
      [["--log-format", "json", "dowload"], {}, /^unknown command "dowload"/],
      [
        ["inspect", "/no/such/file.pb.gz"],
        { AUTOPGO_LOG_FORMAT: "json" },
        /^inspect "\/no\/such\/file\.pb\.gz": no such file$/,
      ],
      [["--log-format=json", "upload", "x.pb.gz"], {}, /^upload: --app is required/],
    ] as const
  ) {
    const run = await runAutopgo([...args], { env: { ...env } });
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    const record = JSON.parse(lines[0]);
    assert.equal(record.level, "ERROR");
    assert.equal(record.logger, "autopgo");
    assert.match(record.message, message);
    assert.equal(typeof record.properties, "object");
    assert.ok(!Number.isNaN(Date.parse(record["@timestamp"])));
  }
});
