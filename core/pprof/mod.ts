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
export * from "./limits.ts";
export * from "./inflate.ts";
export * from "./decode.ts";
export * from "./encode.ts";
export * from "./validate.ts";
export * from "./merge.ts";
export * from "./prune.ts";
export * from "./pgo.ts";
export * from "./summary.ts";
export * from "./edges.ts";
export * from "./compact_pgo.ts";
export * from "./fast_merge.ts";
