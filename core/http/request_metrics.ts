/**
 * The one HTTP middleware that counts requests: every answered request by method (a made-up one
 * as `other`: route_label.ts), route pattern and status, with its duration, and the upload
 * outcomes of `POST /api/profile/:app` — accepted (201, idempotent replays told apart) or rejected
 * by reason, the reason read from the status and, for a 400, from whether the profile or the
 * request was at fault; a 503 is `unavailable` when the error handler answered it (a dependency
 * failed: `c.error` is set), else `busy` (refused for capacity). Register it first, so that
 * answers of the token check, the not-found handler and the error handler are counted too.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import type { Metrics, UploadRejection } from "../metrics.ts";
import { methodLabel, routeOf } from "./route_label.ts";

/** The route pattern of uploads (`POST`). */
export const UPLOAD_ROUTE = "/api/profile/:app";

/** Creates the middleware recording into `metrics`. */
export function requestMetrics(metrics: Metrics): MiddlewareHandler {
  return async function requestMetrics(c, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = routeOf(c);
      const status = c.res.status;
      metrics.httpRequest({
        method: methodLabel(c.req.method),
        route,
        status,
        durationMs: performance.now() - started,
      });
      if (c.req.method === "POST" && (route === UPLOAD_ROUTE || route === "/api/profile/")) {
        if (status === 201) metrics.uploadAccepted(c.res.headers.get("idempotent-replayed") === "true");
        else metrics.uploadRejected(await rejectionOf(c, status));
      }
    }
  };
}

/** The rejection reason of an upload answered `status`. */
export async function rejectionOf(c: Context, status: number): Promise<UploadRejection> {
  switch (status) {
    case 400:
      return (await messageOf(c)).startsWith("invalid profile") ? "invalid_profile" : "invalid_request";
    case 401:
    case 403:
      return "unauthorized";
    case 408:
      return "timeout";
    case 413:
      return "too_large";
    case 422:
      return "not_usable";
    case 503:
      return c.error ? "unavailable" : "busy";
    case 429:
      return "busy";
    default:
      return status >= 500 ? "error" : "invalid_request";
  }
}

/** The `message` of a JSON error answer ("" when there is none). */
async function messageOf(c: Context): Promise<string> {
  try {
    const body = await c.res.clone().json() as { message?: unknown };
    return typeof body?.message === "string" ? body.message : "";
  } catch {
    return "";
  }
}
