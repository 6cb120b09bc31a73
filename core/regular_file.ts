/**
 * Reading a configuration file an operator names (prune rules, scrape targets): only a regular
 * file, and only up to a size, so that a device, a FIFO or a runaway file put in its place fails
 * with one line instead of hanging or filling memory (`/dev/zero` as prune rules took a worker to
 * 5.6 GB, a FIFO as the targets file hung every reload).
 *
 * @module
 */

/** The text of `path` when it is a regular file of at most `maxBytes`; otherwise throws saying why. */
export async function readRegularTextFile(path: string, maxBytes: number): Promise<string> {
  const info = await Deno.stat(path);
  if (!info.isFile) throw new Error("not a regular file");
  if (info.size > maxBytes) throw new Error(`file is ${info.size} bytes, over the limit of ${maxBytes}`);
  return await Deno.readTextFile(path);
}
