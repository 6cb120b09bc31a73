/**
 * A blob store that forwards every call to another one except those given, for tests that inject
 * failures or hooks (a write that fails once, a close that also stops a server).
 *
 * @module
 */

import type { BlobStore } from "../../core/blob.ts";

/** A distinct store object forwarding to `store`, with `overrides` in place of some methods. */
export function delegatingStore(store: BlobStore, overrides: Partial<BlobStore> = {}): BlobStore {
  return {
    read: (k, s) => store.read(k, s),
    stat: (k, s) => store.stat(k, s),
    write: (k, d, c, s) => store.write(k, d, c, s),
    delete: (k, c, s) => store.delete(k, c, s),
    list: (p, s) => store.list(p, s),
    listPrefixes: (p, s) => store.listPrefixes(p, s),
    check: (s) => store.check(s),
    close: () => store.close(),
    ...overrides,
  };
}

/** A store forwarding to `store` that records the first argument (the key or prefix) of each call of `methods`. */
export function recordingStore(
  store: BlobStore,
  methods: readonly ("read" | "stat" | "list" | "listPrefixes")[],
): { store: BlobStore; calls: { method: string; key: string }[] } {
  const calls: { method: string; key: string }[] = [];
  const overrides: Partial<BlobStore> = {};
  if (methods.includes("read")) {
    overrides.read = (k, s) => (calls.push({ method: "read", key: k }), store.read(k, s));
  }
  if (methods.includes("stat")) {
    overrides.stat = (k, s) => (calls.push({ method: "stat", key: k }), store.stat(k, s));
  }
  if (methods.includes("list")) {
    overrides.list = (p, s) => (calls.push({ method: "list", key: p }), store.list(p, s));
  }
  if (methods.includes("listPrefixes")) {
    overrides.listPrefixes = (p, s) => (calls.push({ method: "listPrefixes", key: p }), store.listPrefixes(p, s));
  }
  return { store: delegatingStore(store, overrides), calls };
}
