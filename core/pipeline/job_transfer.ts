/**
 * Handing a profile job's byte arrays to another thread without a copy (profile_jobs.ts: the
 * arrays given to a job are borrowed): each array is made to view a whole ArrayBuffer of its own,
 * and a request's or reply's buffers are listed for `postMessage`'s transfer list.
 *
 * @module
 */

import type { BatchMergeJob } from "./batch_job.ts";
import type { JobReply, JobRequest, MergeJob } from "./profile_jobs.ts";

/**
 * `a` itself when it views a whole, transferable ArrayBuffer, else a copy that does: transferring
 * the buffer under a view of a larger one (a pooled Node Buffer, a slice) would detach memory
 * that other arrays still use.
 */
export function owned(a: Uint8Array): Uint8Array<ArrayBuffer> {
  return isOwned(a) ? a : a.slice();
}

/** True when `a` views a whole ArrayBuffer, so {@link owned} returns it as it is (no copy). */
export function isOwned(a: Uint8Array): a is Uint8Array<ArrayBuffer> {
  return a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}

/** `request` with every byte array {@link owned}, ready to have its buffers transferred. */
export function ownRequest(request: JobRequest): JobRequest {
  switch (request.op) {
    case "check-upload":
    case "base-state":
    case "views":
      return { ...request, data: owned(request.data) };
    case "merge":
      return { op: "merge", job: ownJob(request.job) };
    case "merge-batch":
      return { op: "merge-batch", job: ownBatchJob(request.job) };
    case "rebuild":
      return { op: "rebuild", job: { ...request.job, windows: request.job.windows.map(owned) } };
  }
}

/** `reply` with every byte array {@link owned}, ready to have its buffers transferred. */
export function ownReply(reply: JobReply): JobReply {
  switch (reply.op) {
    case "check-upload":
      return { ...reply, data: owned(reply.data) };
    case "views": {
      const result = reply.result.status === "ok"
        ? { ...reply.result, json: { report: owned(reply.result.json.report), flame: owned(reply.result.json.flame) } }
        : reply.result;
      return { ...reply, data: owned(reply.data), result };
    }
    case "base-state": {
      const result = reply.result.status === "ok" && reply.result.raw
        ? { ...reply.result, raw: owned(reply.result.raw) }
        : reply.result;
      return { ...reply, data: owned(reply.data), result };
    }
    case "merge": {
      const result = reply.result.status === "merged"
        ? { ...reply.result, data: owned(reply.result.data) }
        : reply.result;
      return { op: "merge", result, job: ownJob(reply.job) };
    }
    case "merge-batch": {
      const result = reply.result.status === "merged"
        ? { ...reply.result, data: owned(reply.result.data) }
        : reply.result;
      return { op: "merge-batch", result, job: ownBatchJob(reply.job) };
    }
    case "rebuild": {
      const result = reply.result.status === "merged"
        ? { ...reply.result, data: owned(reply.result.data) }
        : reply.result;
      return { op: "rebuild", result, job: { ...reply.job, windows: reply.job.windows.map(owned) } };
    }
  }
}

function ownJob(job: MergeJob): MergeJob {
  return { ...job, base: job.base && owned(job.base), staged: owned(job.staged) };
}

function ownBatchJob(job: BatchMergeJob): BatchMergeJob {
  return { ...job, base: job.base && owned(job.base), staged: job.staged.map(owned) };
}

/** The distinct buffers of the byte arrays in a request or reply (after {@link ownRequest}/{@link ownReply}). */
export function transferList(message: JobRequest | JobReply): ArrayBuffer[] {
  const arrays: (Uint8Array | undefined)[] = [];
  if (message.op === "merge") {
    const job = message.job;
    arrays.push(job.base, job.staged);
    if ("result" in message && message.result.status === "merged") arrays.push(message.result.data);
  } else if (message.op === "merge-batch") {
    const job = message.job;
    arrays.push(job.base, ...job.staged);
    if ("result" in message && message.result.status === "merged") arrays.push(message.result.data);
  } else if (message.op === "rebuild") {
    arrays.push(...message.job.windows);
    if ("result" in message && message.result.status === "merged") arrays.push(message.result.data);
  } else {
    arrays.push(message.data);
    if (message.op === "base-state" && "result" in message && message.result.status === "ok") {
      arrays.push(message.result.raw);
    }
    if (message.op === "views" && "result" in message && message.result.status === "ok") {
      arrays.push(message.result.json.report, message.result.json.flame);
    }
  }
  const buffers = new Set<ArrayBuffer>();
  for (const a of arrays) if (a && a.buffer instanceof ArrayBuffer) buffers.add(a.buffer);
  return [...buffers];
}
