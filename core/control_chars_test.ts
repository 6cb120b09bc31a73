/**
 * control_chars.ts: C0 controls and DEL are found and replaced; C1 controls only when asked.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hasControlCharacter, replaceControlCharacters } from "./control_chars.ts";

Deno.test("control characters: found, replaced by a string or a function, C1 on request", () => {
  assert.equal(hasControlCharacter("plain é ✓"), false);
  assert.equal(hasControlCharacter("a\u0000b"), true);
  assert.equal(hasControlCharacter("a\u007f"), true);
  assert.equal(replaceControlCharacters("a\nb\tc\u009b", "?"), "a?b?c\u009b");
  assert.equal(replaceControlCharacters("a\nb\u009b", "?", true), "a?b?");
  assert.equal(replaceControlCharacters("\r", (c) => `<${c.charCodeAt(0)}>`), "<13>");
});
