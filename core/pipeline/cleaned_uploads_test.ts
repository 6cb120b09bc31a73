import assert from "node:assert/strict";
import { CleanedUploads } from "./cleaned_uploads.ts";

Deno.test("CleanedUploads remembers at most its limit, forgetting the oldest first", () => {
  const cleaned = new CleanedUploads(3);
  for (const key of ["a", "b", "c"]) cleaned.add(key);
  cleaned.add("a"); // again: now the newest
  cleaned.add("d"); // over the limit: "b", the oldest, goes
  assert.deepEqual(["a", "b", "c", "d"].map((k) => cleaned.has(k)), [true, false, true, true]);
  assert.equal(cleaned.has("e"), false);
});
