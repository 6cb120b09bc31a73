/**
 * The event envelope (events.ts): one round-trips; what is not an envelope, and one too large to
 * be ours, is an EventFormatError (the worker drops it as poison) without being parsed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decodeEnvelope, encodeEnvelope, EventFormatError, makeEnvelope, MAX_ENVELOPE_BYTES } from "./events.ts";

Deno.test("decodeEnvelope: round trip, malformed envelopes, and events too large to read", () => {
  const envelope = makeEnvelope("profile.uploaded", { app: "a", profileKey: "a/staging/1" }, "id-1", new Date(0));
  assert.deepEqual(decodeEnvelope(encodeEnvelope(envelope)), envelope);
  const enc = new TextEncoder();
  assert.throws(() => decodeEnvelope(enc.encode("[1]")), EventFormatError);
  assert.throws(() => decodeEnvelope(enc.encode("{")), /not JSON/);
  const huge = encodeEnvelope(
    makeEnvelope("profile.uploaded", { pad: "x".repeat(MAX_ENVELOPE_BYTES) }, "id", new Date(0)),
  );
  assert.throws(
    () => decodeEnvelope(huge),
    (e) => e instanceof EventFormatError && /larger than 65536: not read/.test(e.message),
  );
});
