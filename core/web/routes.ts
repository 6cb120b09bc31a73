/**
 * The web page of `autopgo server`, as a Hono sub-app mounted at `/` by the server app:
 *
 * | route | what |
 * | --- | --- |
 * | `GET /` | the list of apps (page) |
 * | `GET /app/:app` | one app: flame graph, `explain` tables, `inspect` summary (page) |
 * | `GET /assets/<hash>/<name>` | stylesheet, script, icon (from the binary; cached for good) |
 * | `GET /api/apps` | `{"apps": AppListEntry[]}`: name, size, last write, uploads merged, window range |
 * | `GET /api/profile/:app/report` | {@link AppReport}: the `inspect` summary and `explain` report |
 * | `GET /api/profile/:app/flamegraph` | {@link FlameGraph} (frame layout in flame_graph.ts) |
 *
 * The pages hold no profile data and need no token; the three JSON routes require the server's
 * bearer token when it has one ({@link bearerAuth}), like every `/api/profile` route. Every answer
 * carries the page's Content-Security-Policy ({@link securityHeaders}).
 *
 * Errors are thrown as `HTTPException` and answered once, in `onError`: the API's
 * `{"message","code"}` JSON on `/api/` routes, a small escaped HTML page elsewhere; anything else
 * is a 500/503/507 with a path-free message, as in the rest of the server.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getLogger } from "@logtape/logtape";
import { appNameProblem } from "../app_name.ts";
import type { BlobStore } from "../blob.ts";
import type { ProfileJobs } from "../pipeline/profile_jobs.ts";
import { failureStatus, publicMessage } from "../public_error.ts";
import { assetAt } from "./assets/mod.ts";
import { bearerAuth } from "./bearer_auth.ts";
import { appPage, errorPage, indexPage, type PageContext } from "./pages.ts";
import { type AppViews, ProfileViews } from "./profile_views.ts";
import { securityHeaders } from "./security_headers.ts";
import { singleFlight } from "../single_flight.ts";
import { withDeadline } from "../deadline.ts";
import { DownloadBudget, DownloadBudgetError, downloadDeadlineMs } from "../pipeline/download_budget.ts";

export type { AppListEntry, AppReport } from "./profile_views.ts";
export type { FlameGraph } from "./flame_graph.ts";

/** What the web sub-app needs. */
export interface WebDeps {
  store: BlobStore;
  /** The server's bearer token; the JSON routes require it when set. */
  token?: string;
  /** Where comment reads for the app list run (the server's decode pool). */
  jobs?: ProfileJobs;
  /** Deadline of one request (default 2 minutes). */
  requestTimeoutMs?: number;
  /** Bounds the bytes the responses being sent hold, shared with the API (default: a budget of its own). */
  downloadBudget?: DownloadBudget;
}

const log = getLogger(["autopgo", "server", "web"]);

/** Creates the sub-app. No I/O happens until a request arrives. */
export function webRoutes(deps: WebDeps): Hono {
  const views = new ProfileViews(deps.store, { jobs: deps.jobs });
  const ctx: PageContext = { authRequired: deps.token !== undefined };
  const requestTimeoutMs = deps.requestTimeoutMs ?? 120_000;
  const app = new Hono();
  app.use("*", securityHeaders());
  const auth = bearerAuth({ token: deps.token });
  app.use("/api/apps", auth);
  app.use("/api/profile/:app/report", auth);
  app.use("/api/profile/:app/flamegraph", auth);

  const page = (c: Context, body: ReturnType<typeof indexPage>) => c.html(body, 200, { "cache-control": "no-cache" });
  app.get("/", (c) => page(c, indexPage(ctx)));
  app.get("/app/:app", (c) => page(c, appPage(ctx, validApp(c.req.param("app")))));
  app.get("/assets/:hash/:name", (c) => {
    const asset = assetAt(c.req.path);
    if (!asset) throw new HTTPException(404, { message: "Not Found" });
    return c.body(asset.body, 200, {
      "content-type": asset.contentType,
      "cache-control": "public, max-age=31536000, immutable",
    });
  });

  // One listing at a time, shared by the requests that arrive meanwhile (it walks the whole store).
  const listApps = singleFlight((signal) => views.list(signal), requestTimeoutMs);
  app.get("/api/apps", async (c) => c.json({ apps: await withDeadline(requestTimeoutMs, listApps) }, 200, noStore));
  const viewsOf = async (c: Context): Promise<AppViews> => {
    const app = validApp(c.req.param("app") ?? "");
    const found = await withDeadline(requestTimeoutMs, (signal) => views.get(app, signal));
    if (!found) throw new HTTPException(404, { message: "Not Found" });
    return found;
  };
  // The JSON serialised once per version, streamed from the shared bytes within the download budget.
  const budget = deps.downloadBudget ?? new DownloadBudget();
  const json = (c: Context, bytes: Uint8Array) => {
    const headers = { ...noStore, "content-type": "application/json", "content-length": String(bytes.byteLength) };
    if (c.req.method === "HEAD") return c.body(null, 200, headers);
    try {
      const timeoutMs = downloadDeadlineMs(bytes.byteLength, requestTimeoutMs);
      return c.body(budget.stream(bytes, { timeoutMs }), 200, headers);
    } catch (error) {
      if (!(error instanceof DownloadBudgetError)) throw error;
      return new Response(JSON.stringify({ message: error.message, code: 503 }) + "\n", {
        status: 503,
        headers: { ...noStore, "content-type": "application/json", "retry-after": String(error.retryAfterSeconds) },
      });
    }
  };
  app.get("/api/profile/:app/report", async (c) => json(c, (await viewsOf(c)).json.report));
  app.get("/api/profile/:app/flamegraph", async (c) => json(c, (await viewsOf(c)).json.flame));

  app.onError((error, c) => {
    const api = c.req.path.startsWith("/api/");
    let status: number;
    let message: string;
    const headers: Record<string, string> = { "cache-control": "no-store" };
    if (error instanceof HTTPException) {
      status = error.status;
      message = error.message;
      if (status === 401) headers["www-authenticate"] = 'Bearer realm="autopgo"';
    } else {
      log.error("{method} {path} failed: {error}", { method: c.req.method, path: c.req.path, error: String(error) });
      status = failureStatus(error);
      message = publicMessage(error);
      if (status === 503) headers["retry-after"] = "5";
    }
    if (api) {
      return new Response(JSON.stringify({ message, code: status }) + "\n", {
        status,
        headers: { ...headers, "content-type": "application/json" },
      });
    }
    return c.html(errorPage(ctx, status, message), status as ContentfulStatusCode, headers);
  });
  return app;
}

const noStore = { "cache-control": "no-store" };

/** `name` when it is a valid app name; else an HTTPException 400 with the reason. */
function validApp(name: string): string {
  const problem = appNameProblem(name);
  if (problem) throw new HTTPException(400, { message: `invalid app name: ${problem}` });
  return name;
}
