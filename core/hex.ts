/**
 * Bytes as hex text, and SHA-256 digests as hex: the store's derived key names (idempotency keys,
 * set-aside bases), SQS message group ids, random suffixes, and the cache names of the build,
 * benchmarks and tests. Written once here.
 *
 * @module
 */

const DIGITS = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** `bytes` as lower-case hex, two digits per byte. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += DIGITS[b];
  return out;
}

/**
 * The SHA-256 of `data` (bytes, or a string as UTF-8) as lower-case hex; of its first `bytes`
 * bytes only when given (`bytes` 8 → 16 hex digits).
 */
export async function sha256Hex(data: Uint8Array | string, bytes = 32): Promise<string> {
  const input = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input as Uint8Array<ArrayBuffer>));
  return toHex(digest.subarray(0, bytes));
}
