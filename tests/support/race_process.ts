/**
 * Starting tests/support/race_child.ts as real OS processes and releasing them together: each
 * child prints "ready" once set up, then waits for "go" on stdin, so the processes of one race
 * start their contested operations at the same moment instead of one after the other.
 *
 * Used by the file:// races (tests/blob_race_test.ts) and by the cloud blob suite
 * (tests/support/cloud_blob_suite.ts), whose children need network access and the server's
 * credentials in their environment.
 *
 * @module
 */

import assert from "node:assert/strict";

const CHILD = new URL("./race_child.ts", import.meta.url).pathname;
const enc = (text: string) => new TextEncoder().encode(text);

/** How a child is started. */
export interface ChildOptions {
  /** Deno permission flags (default: read and write only, enough for file:// stores and buses). */
  permissions?: string[];
  /** Extra environment variables (credentials, emulator hosts), added to the parent's. */
  env?: Record<string, string>;
}

/** A running race_child.ts process with line access to its stdout. */
export class RaceChild {
  /** The OS process. */
  readonly process: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #buffer = "";

  /** Spawns `race_child.ts ARGS…`. */
  constructor(args: string[], options: ChildOptions = {}) {
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["run", ...(options.permissions ?? ["--allow-read", "--allow-write"]), CHILD, ...args],
      env: options.env,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.process.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stdin = this.process.stdin.getWriter();
  }

  /** The next line the child prints; throws if it exits first. */
  async line(): Promise<string> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error(`child exited before a full line (got ${JSON.stringify(this.#buffer)})`);
      this.#buffer += value;
    }
    const end = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 1);
    return line;
  }

  /** Writes `text` to the child's stdin. */
  send(text: string): Promise<void> {
    return this.#stdin.write(enc(text));
  }

  /** Closes the child's stdin (consumers take it as their stop signal). */
  async closeStdin(): Promise<void> {
    await this.#stdin.close().catch(() => {});
  }

  /** Closes stdin, parses the child's JSON result line and asserts a zero exit code. */
  async finish<T>(): Promise<T> {
    await this.closeStdin();
    const result = JSON.parse(await this.line()) as T;
    assert.equal((await this.process.status).code, 0);
    await this.#lines.cancel().catch(() => {});
    return result;
  }

  /** SIGKILLs the child (if still running) and releases its pipes. */
  async kill(): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.process.status;
    await this.closeStdin();
    await this.#lines.cancel().catch(() => {});
  }
}

/** Starts one child per argument list, waits until all print "ready", then releases them at once. */
export async function race(argsList: string[][], options: ChildOptions = {}): Promise<RaceChild[]> {
  const children = argsList.map((args) => new RaceChild(args, options));
  try {
    for (const child of children) assert.equal(await child.line(), "ready");
  } catch (error) {
    for (const child of children) await child.kill();
    throw error;
  }
  await Promise.all(children.map((child) => child.send("go\n")));
  return children;
}

/** Releases the next round of `lockstep` children: waits until every child printed "ready", then sends "go" to all. */
export async function nextRound(children: RaceChild[]): Promise<void> {
  for (const child of children) assert.equal(await child.line(), "ready");
  await Promise.all(children.map((child) => child.send("go\n")));
}

/** One contested write as a `cas` child reports it. */
export interface CasResult {
  kind: "cas" | "absent";
  round: number;
  won: boolean;
  version?: string;
  error?: string;
}
