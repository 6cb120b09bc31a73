/**
 * Health and readiness for every long-running component (server, worker, scraper):
 * `GET /api/health` runs each dependency check and answers 200 or 503 with the original's
 * JSON shape; `GET /api/ready` answers 200 `{}` once the component is ready.
 *
 * @module
 */

import { Hono } from "hono";
import { publicMessage } from "./public_error.ts";

/** One dependency whose health is reported (e.g. "blob", "event-reader", "file:///targets.json"). */
export interface HealthCheck {
  /** Name shown in the response. */
  name: string;
  /** Resolves when healthy, throws (with a one-line message) when not. */
  check(signal: AbortSignal): Promise<void>;
}

/** One entry of the health response. */
export interface DependencyStatus {
  name: string;
  status: "healthy" | "unhealthy";
  message?: string;
}

/** Body of `GET /api/health`. */
export interface HealthReport {
  status: "healthy" | "unhealthy";
  dependencies: DependencyStatus[];
  message?: string;
}

/** Runs all checks concurrently, each bounded by `timeoutMs`, and builds the report. */
export async function runHealthChecks(checks: readonly HealthCheck[], timeoutMs = 5000): Promise<HealthReport> {
  const dependencies = await Promise.all(checks.map(async (c): Promise<DependencyStatus> => {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await Promise.race([
        c.check(signal),
        new Promise<never>((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error(`health check timed out after ${timeoutMs}ms`)))
        ),
      ]);
      return { name: c.name, status: "healthy" };
    } catch (e) {
      return { name: c.name, status: "unhealthy", message: publicMessage(e) };
    }
  }));
  const firstBad = dependencies.find((d) => d.status === "unhealthy");
  return firstBad
    ? { status: "unhealthy", dependencies, message: firstBad.message }
    : { status: "healthy", dependencies };
}

/**
 * Runs `checks` at most once per `ttlMs`: concurrent and repeated requests within the window
 * share one run, so a client polling `/api/health` or `/api/ready` cannot multiply the probes
 * sent to the blob store and the bus.
 */
export function sharedHealthRunner(
  checks: readonly HealthCheck[],
  ttlMs = 1_000,
  now: () => number = Date.now,
): () => Promise<HealthReport> {
  let last: { at: number; report: Promise<HealthReport> } | undefined;
  return () => {
    const t = now();
    if (!last || t - last.at >= ttlMs) last = { at: t, report: runHealthChecks(checks) };
    return last.report;
  };
}

/**
 * Hono routes for `/api/health` and `/api/ready`. Health runs every dependency check; ready
 * answers 200 only when the component is started (`isReady`, default always) and every
 * dependency (blob store, bus) is reachable, else 503 naming the first that is not.
 */
export function healthRoutes(checks: readonly HealthCheck[], isReady: () => boolean = () => true): Hono {
  const app = new Hono();
  const health = sharedHealthRunner(checks);
  app.get("/api/health", async (c) => {
    const report = await health();
    return c.json(report, report.status === "healthy" ? 200 : 503);
  });
  app.get("/api/ready", async (c) => {
    if (!isReady()) return c.json({ message: "not ready", code: 503 }, 503);
    const report = await health();
    if (report.status !== "healthy") return c.json({ message: `not ready: ${report.message}`, code: 503 }, 503);
    return c.json({}, 200);
  });
  return app;
}
