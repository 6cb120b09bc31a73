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
