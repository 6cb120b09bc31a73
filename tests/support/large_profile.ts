/**
 * Large labelled CPU profiles built from a real one, for the tests and the benchmark of the
 * server's upload memory: the committed labelled fixture (a Go CPU profile whose samples carry
 * endpoint, tenant and span labels) with its samples repeated under fresh span ids, as a busy
 * service's profile with many requests looks. Every copy adds samples and strings, so the decoded
 * tables grow with the size, as they do for real profiles.
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { decodeProfile } from "../../core/pprof/decode.ts";
import { encodeUncompressed } from "../../core/pprof/encode.ts";
import type { Profile, Sample } from "../../core/pprof/profile.ts";
import { committedProfiles } from "./fixtures.ts";

function relabelled(s: Sample, copy: number): Sample {
  const label: Record<string, string[]> = {};
  for (const [key, values] of Object.entries(s.label ?? {})) {
    label[key] = /span_id$/.test(key) ? values.map((v) => `${v}-${copy}`) : values;
  }
  return { ...s, value: [...s.value], label };
}

function withCopies(p: Profile, copies: number): Profile {
  const sample: Sample[] = [];
  for (let copy = 0; copy < copies; copy++) for (const s of p.sample) sample.push(relabelled(s, copy));
  return { ...p, sample };
}

/**
 * The raw (uncompressed) profile.proto bytes of a real labelled CPU profile repeated until it is
 * at least `minBytes` long (a little more: whole copies).
 */
export function largeLabelledProfile(minBytes: number): Uint8Array<ArrayBuffer> {
  const real = decodeProfile(Deno.readFileSync(committedProfiles().cpuLabelled[0]));
  let copies = 1;
  for (let attempt = 0; attempt < 8; attempt++) {
    const bytes = encodeUncompressed(withCopies(real, copies));
    if (bytes.byteLength >= minBytes) return bytes.slice();
    copies = Math.ceil(copies * Math.min(64, (minBytes / bytes.byteLength) * 1.02));
  }
  throw new Error(`large profile: ${copies} copies of the fixture are still under ${minBytes} bytes`);
}

/** {@link largeLabelledProfile} gzip-compressed, as Go's runtime writes profiles. */
export function largeLabelledProfileGz(minRawBytes: number): Uint8Array<ArrayBuffer> {
  const gz = gzipSync(largeLabelledProfile(minRawBytes));
  return new Uint8Array(gz.buffer, gz.byteOffset, gz.byteLength).slice();
}
