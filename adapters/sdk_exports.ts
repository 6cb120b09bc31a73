/**
 * One shape for a lazily imported SDK module. Under `deno run` and `deno compile` a CommonJS
 * package's namespace has its named exports; in the split single-file build (build/bundle.ts)
 * `deno bundle --code-splitting` turns such a package into a chunk whose only export is `default`,
 * the package's `module.exports`. Drivers read their SDK through {@link sdkExports} so both work.
 *
 * @module
 */

/** `mod`, or its `default` when that is all it exports (a CommonJS package in a bundle chunk). */
export function sdkExports<T extends object>(mod: T): T {
  const keys = Object.keys(mod);
  const only = (mod as { default?: unknown }).default;
  if (keys.length === 1 && keys[0] === "default" && typeof only === "object" && only !== null) return only as T;
  return mod;
}
