/**
 * The single-file build for tests: build/bundle.ts's `autopgo.js`, built once per test into its own
 * folder, with a cache folder of its own (`XDG_CACHE_HOME`) so each test sees a first run that
 * unpacks the modules. The cache folder's name holds a space, `#` and `%`, which a file: URL must
 * escape.
 *
 * @module
 */

import { buildBundle } from "../../build/bundle.ts";
import { MAIN_TS } from "./cli.ts";

const REPO = new URL("../..", import.meta.url).pathname;

/** A built `autopgo.js`: its path, the command that runs it with no config, and the env giving it a private cache. */
export interface TestBundle {
  path: string;
  command: string[];
  env: Record<string, string>;
  /** The folder the first run unpacks into. */
  unpacked: string;
}

/** Builds `dir/autopgo.js` (cache folder `dir/cache #1 %41`). */
export async function buildTestBundle(dir: string): Promise<TestBundle> {
  const path = `${dir}/autopgo.js`;
  const { id } = await buildBundle({ entry: MAIN_TS, output: path, cwd: REPO });
  const cache = `${dir}/cache #1 %41`;
  return {
    path,
    command: [Deno.execPath(), "run", "-A", "--no-config", path],
    env: { XDG_CACHE_HOME: cache },
    unpacked: `${cache}/autopgo/bundle-${id}`,
  };
}
