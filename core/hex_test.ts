import assert from "node:assert/strict";
import { sha256Hex, toHex } from "./hex.ts";

Deno.test("toHex writes two lower-case digits per byte", () => {
  assert.equal(toHex(new Uint8Array([0, 1, 15, 16, 171, 255])), "00010f10abff");
  assert.equal(toHex(new Uint8Array()), "");
});

Deno.test("sha256Hex: the known digest of 'abc', whole and cut, from bytes or text", async () => {
  const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; // FIPS 180-2 test vector
  assert.equal(await sha256Hex("abc"), abc);
  assert.equal(await sha256Hex(new TextEncoder().encode("abc")), abc);
  assert.equal(await sha256Hex("abc", 8), abc.slice(0, 16));
});
