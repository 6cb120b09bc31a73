/**
 * The module a decode-pool Web Worker runs (decode_pool.ts): receives `{ id, request }` messages,
 * runs each profile job (profile_jobs.ts) and posts `{ id, reply }` back, transferring the
 * buffers of the reply's byte arrays (the borrowed inputs and the merged output) instead of
 * copying them. A job that throws (a bug: profile problems are verdicts) is answered
 * `{ id, error }`; the worker keeps serving.
 *
 * Loaded directly by `deno run`/`deno compile` (a file beside decode_pool.ts), and from a bundle
 * through main.ts, which imports this module when it finds itself running as a Worker.
 *
 * @module
 */

import { type JobReply, type JobRequest, runJob } from "./profile_jobs.ts";
import { ownReply, transferList } from "./job_transfer.ts";

/** What a worker scope offers (typed here: the deno.worker lib cannot be mixed into the main program). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<{ id: number; request: JobRequest }>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

/** Starts answering jobs on `scope` (the worker's global scope). */
export function serveJobs(scope: WorkerScope): void {
  scope.onmessage = (event) => {
    const { id, request } = event.data;
    let reply: JobReply;
    try {
      reply = ownReply(runJob(request));
    } catch (error) {
      scope.postMessage({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      return;
    }
    scope.postMessage({ id, reply }, transferList(reply));
  };
}

serveJobs(globalThis as unknown as WorkerScope);
