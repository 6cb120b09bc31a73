/**
 * Control characters in text that came from outside (a key, a token, a server's message, a log
 * value): one definition for the checks that refuse them and the places that replace them.
 *
 * @module
 */

// deno-lint-ignore no-control-regex
const C0_AND_DEL = /[\u0000-\u001f\u007f]/;
// deno-lint-ignore no-control-regex
const C0_AND_DEL_ALL = /[\u0000-\u001f\u007f]/g;
// deno-lint-ignore no-control-regex
const C0_DEL_AND_C1_ALL = /[\u0000-\u001f\u007f-\u009f]/g;

/** True when `text` holds a C0 control character (U+0000–U+001F) or DEL. */
export function hasControlCharacter(text: string): boolean {
  return C0_AND_DEL.test(text);
}

/**
 * `text` with every C0 control character and DEL (and, with `c1`, the C1 controls U+0080–U+009F
 * a terminal also acts on) replaced by `by`: a fixed string, or one computed from the character.
 */
export function replaceControlCharacters(
  text: string,
  by: string | ((c: string) => string),
  c1 = false,
): string {
  return text.replace(c1 ? C0_DEL_AND_C1_ALL : C0_AND_DEL_ALL, typeof by === "string" ? () => by : by);
}
