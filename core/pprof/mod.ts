/**
 * The pprof engine: decode, validate, encode, merge, prune and PGO checks for profile.proto.
 *
 * Every module here is pure computation on bytes and in-memory profiles; errors caused by
 * the input are {@link ProfileError}s.
 *
 * @module
 */

export * from "./profile.ts";
export * from "./errors.ts";
