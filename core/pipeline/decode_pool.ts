/**
 * A small, bounded pool of Web Workers that run profile jobs (profile_jobs.ts) off the thread that
 * serves HTTP: decoding can no longer stall health checks, and a deadline can really stop it.
 *
 * - Bounded concurrency: at most `size` jobs run, one per worker; workers start on first use.
 * - Bounded queue: jobs beyond the running ones wait in FIFO order. A job submitted with `shed`
 *   (a client's upload) is refused with {@link QueueFullError} when `queueLimit` jobs already
 *   wait, which the server answers 503 with `Retry-After`; internal jobs (merges, bounded by the
 *   worker's own concurrency) always wait.
 * - Deadlines: a job whose `signal` aborts, or that runs longer than `maxJobMs`, is abandoned with
 *   {@link JobDeadlineError}; if it was running, its worker is terminated mid-job (V8 stops it
 *   wherever it is) and replaced by a fresh one on the next job.
 * - Zero copy: request and reply byte arrays travel as transferred ArrayBuffers.
 * - A worker that crashes fails its job with an error and is replaced; it never takes the
 *   process down.
 *
 * Where the worker module comes from, so that one program works under `deno run`, `deno compile`
 * and `deno bundle`: when this module is a file named decode_pool.ts, the worker runs the
 * decode_worker.ts beside it (`deno compile` must `--include` that file; compile.sh does). The
 * single-file build's loader (build/bundle_loader.js) names that module's unpacked chunk in
 * `globalThis[Symbol.for("autopgo.bundle.decodeWorker")]`, and the worker runs that. In a plain
 * one-file bundle every module shares the bundle's URL, so the worker runs the bundle itself, whose
 * entry (main.ts) starts serving jobs instead of the CLI when it finds itself in a Worker.
 *
 * @module
 */

import type { BatchMergeJob } from "./batch_job.ts";
import type { RebuildJob } from "./rebuild_job.ts";
import {
  JobDeadlineError,
  type JobOptions,
  type JobReply,
  type JobRequest,
  type MergeJob,
  type ProfileJobs,
  QueueFullError,
} from "./profile_jobs.ts";
import { ownRequest, transferList } from "./job_transfer.ts";
import type { DecodeLimits } from "../pprof/limits.ts";

/** Options of {@link DecodePool}. */
export interface DecodePoolOptions {
  /** Workers, i.e. jobs running at once (default {@link defaultPoolSize}). */
  size?: number;
  /** Jobs that may wait for a worker before shed jobs are refused (default {@link DEFAULT_QUEUE_LIMIT}). */
  queueLimit?: number;
  /** Longest a job may run (default 5 minutes); its signal may end it sooner. */
  maxJobMs?: number;
  /** Seconds a refused client is asked to wait (`Retry-After`, default 2). */
  retryAfterSeconds?: number;
  /** The module workers run (default: see the module doc). */
  workerUrl?: URL;
}

/** Counters for logs and tests. */
export interface DecodePoolStats {
  size: number;
  running: number;
  queued: number;
  /** Workers started so far (initial ones and replacements). */
  started: number;
  /** Workers terminated at a deadline or after a crash. */
  terminated: number;
  /** Shed jobs refused because the queue was full. */
  refused: number;
}

/**
 * Default queue bound: a fleet uploading at the same minute waits (real profiles check in 10–100 ms)
 * rather than being refused; the bodies waiting are bounded by the connection cap anyway, so the
 * bound is about latency: past it a client is better told to come back.
 */
export const DEFAULT_QUEUE_LIMIT = 64;

/** One worker per CPU beyond the first (the HTTP thread keeps one), between 1 and 4. */
export function defaultPoolSize(): number {
  const cpus = globalThis.navigator?.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(4, cpus - 1));
}

/** The module a pool's workers run when none is given (see the module doc). */
export function defaultWorkerUrl(): URL {
  const here = import.meta.url;
  if (/\/decode_pool\.[jt]s$/.test(new URL(here).pathname)) return new URL("./decode_worker.ts", here);
  const unpacked = (globalThis as Record<symbol, unknown>)[Symbol.for("autopgo.bundle.decodeWorker")];
  return new URL(typeof unpacked === "string" ? unpacked : here);
}

interface Pending {
  request: JobRequest;
  resolve(reply: JobReply): void;
  reject(error: Error): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  index: number;
  worker?: Worker;
  job?: Pending & { id: number; timer: ReturnType<typeof setTimeout> };
}

/** The pool; see the module doc. Call {@link DecodePool.close} when done (workers keep a process alive). */
export class DecodePool implements ProfileJobs {
  readonly #slots: Slot[];
  readonly #queue: Pending[] = [];
  readonly #queueLimit: number;
  readonly #maxJobMs: number;
  readonly #retryAfter: number;
  readonly #url: URL;
  #nextId = 1;
  #closed = false;
  #started = 0;
  #terminated = 0;
  #refused = 0;

  /** Creates the pool; no worker starts before the first job. */
  constructor(opts: DecodePoolOptions = {}) {
    const size = opts.size ?? defaultPoolSize();
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`pool size must be a positive integer, got ${size}`);
    }
    this.#slots = Array.from({ length: size }, (_, index) => ({ index }));
    this.#queueLimit = opts.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    this.#maxJobMs = opts.maxJobMs ?? 5 * 60_000;
    this.#retryAfter = opts.retryAfterSeconds ?? 2;
    this.#url = opts.workerUrl ?? defaultWorkerUrl();
  }

  /** The module the workers run. */
  get workerUrl(): URL {
    return this.#url;
  }

  /** Current counters. */
  stats(): DecodePoolStats {
    return {
      size: this.#slots.length,
      running: this.#slots.filter((s) => s.job).length,
      queued: this.#queue.length,
      started: this.#started,
      terminated: this.#terminated,
      refused: this.#refused,
    };
  }

  /** See {@link ProfileJobs.checkUpload}. */
  async checkUpload(data: Uint8Array, limits: Partial<DecodeLimits>, opts?: JobOptions) {
    const reply = await this.run({ op: "check-upload", data, limits, measure: opts?.measure }, opts);
    if (reply.op !== "check-upload") throw new Error(`decode pool: ${reply.op} reply to a check-upload job`);
    const { verdict, data: back, held } = reply;
    return held ? { verdict, data: back, held } : { verdict, data: back };
  }

  /** See {@link ProfileJobs.baseState}. */
  async baseState(data: Uint8Array, opts?: JobOptions) {
    const reply = await this.run({ op: "base-state", data, inflated: opts?.inflated }, opts);
    if (reply.op !== "base-state") throw new Error(`decode pool: ${reply.op} reply to a base-state job`);
    return { result: reply.result, data: reply.data };
  }

  /** See {@link ProfileJobs.merge}. */
  async merge(job: MergeJob, opts?: JobOptions) {
    const reply = await this.run({ op: "merge", job }, opts);
    if (reply.op !== "merge") throw new Error(`decode pool: ${reply.op} reply to a merge job`);
    return reply.result;
  }

  /** See {@link ProfileJobs.mergeBatch}. */
  async mergeBatch(job: BatchMergeJob, opts?: JobOptions) {
    const reply = await this.run({ op: "merge-batch", job }, opts);
    if (reply.op !== "merge-batch") throw new Error(`decode pool: ${reply.op} reply to a merge-batch job`);
    return reply.result;
  }

  /** See {@link ProfileJobs.rebuild}. */
  async rebuild(job: RebuildJob, opts?: JobOptions) {
    const reply = await this.run({ op: "rebuild", job }, opts);
    if (reply.op !== "rebuild") throw new Error(`decode pool: ${reply.op} reply to a rebuild job`);
    return reply.result;
  }

  /** See {@link ProfileJobs.views}. */
  async views(app: string, data: Uint8Array, modifiedMs: number, opts?: JobOptions) {
    const reply = await this.run({ op: "views", app, data, modifiedMs }, opts);
    if (reply.op !== "views") throw new Error(`decode pool: ${reply.op} reply to a views job`);
    return { result: reply.result, data: reply.data };
  }

  /** Runs one job in a worker (the request's byte arrays are borrowed: use those of the reply). */
  run(request: JobRequest, opts: JobOptions = {}): Promise<JobReply> {
    if (this.#closed) return Promise.reject(new Error("decode pool is closed"));
    if (opts.signal?.aborted) return Promise.reject(this.#deadline(false));
    return new Promise<JobReply>((resolve, reject) => {
      const pending: Pending = { request, resolve, reject, signal: opts.signal };
      const slot = this.#slots.find((s) => !s.job);
      if (slot) return this.#start(slot, pending);
      if (opts.shed && this.#queue.length >= this.#queueLimit) {
        this.#refused++;
        return reject(
          new QueueFullError(
            `server busy: ${this.#queue.length} profiles are waiting to be checked, retry in ${this.#retryAfter} s`,
            this.#retryAfter,
          ),
        );
      }
      if (pending.signal) {
        pending.onAbort = () => {
          const at = this.#queue.indexOf(pending);
          if (at >= 0) this.#queue.splice(at, 1);
          reject(this.#deadline(false));
        };
        pending.signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      this.#queue.push(pending);
    });
  }

  /** Terminates every worker and fails running and queued jobs. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) this.#settle(pending, new Error("decode pool closed"));
    for (const slot of this.#slots) {
      const job = slot.job;
      slot.job = undefined;
      slot.worker?.terminate();
      slot.worker = undefined;
      if (job) {
        clearTimeout(job.timer);
        this.#settle(job, new Error("decode pool closed"));
      }
    }
  }

  #deadline(running: boolean): JobDeadlineError {
    return new JobDeadlineError(
      running
        ? "profile job ran past its deadline and was stopped"
        : "profile job did not start before its deadline (server busy)",
      running,
    );
  }

  #start(slot: Slot, pending: Pending): void {
    if (pending.onAbort) pending.signal!.removeEventListener("abort", pending.onAbort);
    let worker: Worker;
    try {
      worker = slot.worker ?? this.#spawn(slot);
    } catch (error) {
      // e.g. no permission to load the module: fail this job loudly, try the next
      this.#settle(pending, new Error(`cannot start a profile worker: ${(error as Error)?.message ?? error}`));
      return this.#next(slot);
    }
    const id = this.#nextId++;
    const timer = setTimeout(() => this.#abandon(slot, id), this.#maxJobMs);
    const job = { ...pending, id, timer, onAbort: undefined as (() => void) | undefined };
    slot.job = job;
    if (pending.signal) {
      job.onAbort = () => this.#abandon(slot, id);
      pending.signal.addEventListener("abort", job.onAbort, { once: true });
    }
    try {
      const request = ownRequest(pending.request);
      worker.postMessage({ id, request }, transferList(request));
    } catch (error) {
      this.#finish(slot, error instanceof Error ? error : new Error(String(error)));
    }
  }

  #spawn(slot: Slot): Worker {
    const worker = new Worker(this.#url, { type: "module", name: `autopgo-decode-${slot.index}` });
    this.#started++;
    worker.onmessage = (event: MessageEvent<{ id: number; reply?: JobReply; error?: string }>) => {
      const job = slot.job;
      if (slot.worker !== worker || !job || job.id !== event.data.id) return; // a stale reply
      const { reply, error } = event.data;
      this.#finish(slot, reply ?? new Error(`profile job failed in its worker: ${error}`));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault(); // never let a worker's uncaught error take the process down
      if (slot.worker !== worker) return;
      const job = slot.job;
      this.#kill(slot);
      if (job) {
        this.#finish(slot, new Error(`profile worker crashed: ${event.message}`), job);
      }
    };
    worker.onmessageerror = () => {
      if (slot.worker === worker && slot.job) this.#finish(slot, new Error("profile job reply could not be read"));
    };
    slot.worker = worker;
    return worker;
  }

  /** Ends the job of `slot` (id must still match) at its deadline: terminate the worker mid-job. */
  #abandon(slot: Slot, id: number): void {
    const job = slot.job;
    if (!job || job.id !== id) return;
    this.#kill(slot);
    this.#finish(slot, this.#deadline(true), job);
  }

  #kill(slot: Slot): void {
    if (!slot.worker) return;
    slot.worker.terminate();
    slot.worker = undefined;
    this.#terminated++;
  }

  /** Settles the slot's job with `outcome` and starts the next queued job. */
  #finish(slot: Slot, outcome: JobReply | Error, job = slot.job): void {
    if (!job) return;
    clearTimeout(job.timer);
    slot.job = undefined;
    this.#settle(job, outcome);
    this.#next(slot);
  }

  /** Starts the next queued job on the idle `slot`, if any. */
  #next(slot: Slot): void {
    const next = this.#closed ? undefined : this.#queue.shift();
    if (next) this.#start(slot, next);
  }

  #settle(pending: Pending, outcome: JobReply | Error): void {
    if (pending.onAbort) pending.signal?.removeEventListener("abort", pending.onAbort);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }
}
