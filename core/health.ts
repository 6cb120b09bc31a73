/**
 * Health and readiness for every long-running component (server, worker, scraper):
 * `GET /api/health` runs each dependency check and answers 200 or 503 with the original's
 * JSON shape; `GET /api/ready` answers 200 `{}` once the component is ready.
 *
 * @module
 */

import { Hono } from "hono";

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
      return { name: c.name, status: "unhealthy", message: e instanceof Error ? e.message : String(e) };
    }
  }));
  const firstBad = dependencies.find((d) => d.status === "unhealthy");
  return firstBad
    ? { status: "unhealthy", dependencies, message: firstBad.message }
    : { status: "healthy", dependencies };
}

/**
 * Hono routes for `/api/health` and `/api/ready`. `isReady` defaults to always ready;
 * when it returns false, `/api/ready` answers 503.
 */
export function healthRoutes(checks: readonly HealthCheck[], isReady: () => boolean = () => true): Hono {
  const app = new Hono();
  app.get("/api/health", async (c) => {
    const report = await runHealthChecks(checks);
    return c.json(report, report.status === "healthy" ? 200 : 503);
  });
  app.get("/api/ready", (c) => isReady() ? c.json({}, 200) : c.json({ message: "not ready", code: 503 }, 503));
  return app;
}
