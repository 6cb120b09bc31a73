/**
 * The one error type the pprof engine throws for bad or unusable input.
 *
 * Every failure caused by the bytes of a profile (corrupt protobuf, gzip bomb, dangling
 * ids, incompatible merge inputs, limits exceeded) is a `ProfileError` with a single-line,
 * human-readable message. Anything else escaping the engine is a bug.
 *
 * @module
 */

/** Machine-readable category of a {@link ProfileError}. */
export type ProfileErrorKind =
  | "empty" // no data at all
  | "decompress" // gzip stream is corrupt
  | "too-large" // a size or count limit was exceeded
  | "malformed" // protobuf structure is wrong (wire types, truncation, bad string index)
  | "invalid" // structurally decodes but violates pprof's CheckValid rules
  | "incompatible" // merge inputs disagree on sample/period types
  | "unsupported"; // valid but outside what the engine represents (e.g. a value beyond 2^53)

/** A one-line, user-facing error about a profile's content. */
export class ProfileError extends Error {
  /** Category of the failure. */
  readonly kind: ProfileErrorKind;

  /** Creates an error; `message` must be a single line. */
  constructor(kind: ProfileErrorKind, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, " "), options);
    this.name = "ProfileError";
    this.kind = kind;
  }

  /** Returns a copy whose message is prefixed with `context: `, keeping the kind. */
  withContext(context: string): ProfileError {
    return new ProfileError(this.kind, `${context}: ${this.message}`, { cause: this });
  }
}
