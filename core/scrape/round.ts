/**
 * One sampling round: pick up to `sampleSize` random targets, profile them concurrently and
 * upload each target's profile. A profile is read whole (up to {@link MAX_SCRAPED_PROFILE_BYTES})
 * before it is uploaded, so that a transient upload failure is retried with the same
 * `Idempotency-Key` and the profile is merged once whatever happens. Every target runs under its own
 * deadline (profile duration + grace), so a hanging or dead target can never stall the round
 * beyond it; failures are reported per target and never thrown.
 *
 * A profile without samples (an idle service: Go's CPU profiler records nothing while no goroutine
 * runs) is not uploaded: it would add nothing to the merged profile but a request and a merge.
 * The target's result says `idle` instead.
 *
 * @module
 */

import { nodeFetch } from "../http_fetch.ts";
import { bodySnippet } from "../body_read.ts";
import { BodyBuffer } from "../pipeline/http_body.ts";
import { isIdleProfile } from "../pprof/sample_count.ts";
import { profileUrl, type Target } from "./target.ts";

/** What the round needs from the API client (see `core/api_client.ts`). */
export interface ProfileUploader {
  /** Uploads a profile for `app` (retrying transient failures idempotently); resolves the staging key. */
  upload(
    app: string,
    body: Uint8Array,
    options: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<{ key: string }>;
}

/**
 * Largest profile a target may send, after any `Content-Encoding` is decoded: the server's default
 * upload limit (a 30 s CPU profile of a busy service is a few MiB). Each target of a round may hold
 * this much at once: at 256 MiB, six targets answering with gzip bombs took the scraper to 2.9 GB.
 */
export const MAX_SCRAPED_PROFILE_BYTES = 64 * 1024 * 1024;

/** Settings of a round. */
export interface RoundOptions {
  /** Application name profiles are uploaded for. */
  app: string;
  /** Profile duration in whole seconds (`?seconds=`). */
  seconds: number;
  /** Per-target deadline in milliseconds covering the profile GET and the upload. */
  targetTimeoutMs: number;
  /** Headers sent to every target (e.g. `Authorization`). */
  targetHeaders?: HeadersInit;
  /** Where profiles go. */
  uploader: ProfileUploader;
  /** fetch used for targets (default: core/http_fetch.ts, which reaches every port; tests inject one). */
  fetch?: typeof fetch;
  /** Aborts every in-flight target (shutdown). */
  signal?: AbortSignal;
}

/**
 * Outcome of one target in a round: uploaded (`key`), idle (a profile with no samples, not
 * uploaded), or failed.
 */
export type TargetResult =
  | { target: Target; url: string; ok: true; idle: false; key: string; bytes: number; ms: number }
  | { target: Target; url: string; ok: true; idle: true; bytes: number; ms: number }
  | { target: Target; url: string; ok: false; error: string; ms: number };

/**
 * Picks up to `n` distinct targets uniformly at random (partial Fisher–Yates on a copy; the
 * input is never mutated). `random` returns a number in [0, 1).
 */
export function pickSample<T>(items: readonly T[], n: number, random: () => number): T[] {
  const pool = items.slice();
  const count = Math.min(Math.max(0, Math.floor(n)), pool.length);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

/** Profiles one target and streams its response into an upload. Never throws. */
export async function scrapeTarget(
  target: Target,
  options: RoundOptions,
  now = () => Date.now(),
): Promise<TargetResult> {
  const started = now();
  let url = target.address;
  const deadline = AbortSignal.timeout(options.targetTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  try {
    url = profileUrl(target, options.seconds).href;
    const res = await (options.fetch ?? nodeFetch)(url, { headers: options.targetHeaders, signal });
    if (res.status !== 200) {
      const text = await bodySnippet(res); // at most 4 KiB of an error body: a target decides its size
      throw new Error(
        `target answered ${res.status}${text.trim() ? `: ${text.replace(/\s+/g, " ").trim().slice(0, 200)}` : ""}`,
      );
    }
    if (!res.body) throw new Error("target answered 200 with no body");
    // One buffer that grows as the bytes arrive (a list of chunks and then their copy held every
    // profile twice: six gzip-bomb targets took 1.9 GB).
    const body = new BodyBuffer(MAX_SCRAPED_PROFILE_BYTES);
    for await (const chunk of res.body) {
      if (!body.append(chunk)) {
        body.discard(); // the bytes go now, not when the buffer is collected
        await res.body.cancel().catch(() => {});
        throw new Error(`target sent more than ${MAX_SCRAPED_PROFILE_BYTES} bytes`);
      }
    }
    const profile = body.finish();
    const bytes = profile.byteLength;
    // Bytes that are no profile still go to the server, whose answer says what is wrong with them.
    if (isIdleProfile(profile)) return { target, url, ok: true, idle: true, bytes, ms: now() - started };
    const { key } = await options.uploader.upload(options.app, profile, { signal, timeoutMs: 0 });
    return { target, url, ok: true, idle: false, key, bytes, ms: now() - started };
  } catch (e) {
    return { target, url, ok: false, error: describeTargetError(e, deadline, options), ms: now() - started };
  }
}

/** Profiles `targets` concurrently; resolves when every one has finished or hit its deadline. */
export function runRound(targets: readonly Target[], options: RoundOptions): Promise<TargetResult[]> {
  return Promise.all(targets.map((t) => scrapeTarget(t, options)));
}

function describeTargetError(e: unknown, deadline: AbortSignal, options: RoundOptions): string {
  if (deadline.aborted) return `no complete profile within ${options.targetTimeoutMs}ms`;
  if (options.signal?.aborted) return "aborted by shutdown";
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/\s*\n\s*/g, " ");
}
