/**
 * What is wrong with an HTTP/1.1 request head, line by line (RFC 9112), for the connection guard's
 * framer (request_framer.ts). `Deno.serve` answers a malformed head `400 Bad Request` with no body
 * and closes; the guard finds the same faults first and answers with the reason, as the API
 * answers every other bad request. Only faults `Deno.serve` refuses are reported here (checked
 * with a raw-socket probe of a running server): a head these functions pass is relayed as before.
 *
 * @module
 */

/** Header fields `Deno.serve` takes in one request head (a 129th is answered 400). */
export const MAX_HEADER_FIELDS = 128;
/** An RFC 9110 token (method, header name). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A request target: visible ASCII and obs-text, no spaces or control characters. */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
/** What a header value may not hold: control characters other than HTAB (and DEL). */
// deno-lint-ignore no-control-regex -- control characters are what it looks for
const VALUE_CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** The largest Content-Length a request may declare (an unsigned 64-bit integer). */
const MAX_CONTENT_LENGTH = 2n ** 64n - 1n;

/** A short quoted sample of client text for an error message. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** Why `line` (without its line ending) is not `method SP request-target SP HTTP/1.x`, or undefined. */
export function requestLineProblem(line: string): string | undefined {
  const parts = line.split(" ");
  if (parts.length !== 3) return `invalid request line ${quoted(line)}`;
  const [method, target, version] = parts;
  if (!TOKEN.test(method)) return `invalid method ${quoted(method)}`;
  if (!TARGET.test(target)) return `invalid request target ${quoted(target)}`;
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") return `unsupported HTTP version ${quoted(version)}`;
  return undefined;
}

/** Why header line `line` (without its line ending) is not `name: value`, or undefined. */
export function headerLineProblem(line: string): string | undefined {
  if (line.startsWith(" ") || line.startsWith("\t")) return "header line folded onto the one before (obsolete)";
  const colon = line.indexOf(":");
  if (colon < 0) return `header line without a colon ${quoted(line)}`;
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) return `invalid header name ${quoted(name)}`;
  if (VALUE_CONTROL.test(line.slice(colon + 1))) return `control character in header ${name}`;
  return undefined;
}

/**
 * Why a `Content-Length` value (trimmed, lower case) is refused, given the value of an earlier
 * `Content-Length` of the same head (if any), or undefined. A list of equal lengths is one length.
 */
export function contentLengthProblem(value: string, earlier: string | undefined): string | undefined {
  const lengths = value.split(",").map((v) => v.trim());
  if (lengths.some((v) => !/^\d+$/.test(v))) return `invalid Content-Length ${quoted(value)}`;
  if (BigInt(lengths[0]) > MAX_CONTENT_LENGTH) return `Content-Length too large ${quoted(value)}`;
  const first = BigInt(lengths[0]);
  const all = earlier === undefined ? lengths : [...lengths, ...earlier.split(",").map((v) => v.trim())];
  if (all.some((v) => BigInt(v) !== first)) return "conflicting Content-Length values";
  return undefined;
}
