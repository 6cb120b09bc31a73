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

/** Longest a probe waits for the dependency checks before it is answered (Kubernetes' default probe timeout is 1 s). */
export const HEALTH_ANSWER_MS = 900;

/** Runs all checks concurrently, each bounded by `timeoutMs`, and builds the report. */
export function runHealthChecks(checks: readonly HealthCheck[], timeoutMs = 5000): Promise<HealthReport> {
  return startHealthChecks(checks, timeoutMs).report;
}

/** A run of the checks: each one's status once it has settled, and the whole report. */
interface HealthRun {
  settled: (DependencyStatus | undefined)[];
  report: Promise<HealthReport>;
  done: boolean;
  at: number;
}

function startHealthChecks(checks: readonly HealthCheck[], timeoutMs: number, at = 0): HealthRun {
  const settled: (DependencyStatus | undefined)[] = checks.map(() => undefined);
  const report = Promise.all(checks.map(async (c, i): Promise<DependencyStatus> => {
    const signal = AbortSignal.timeout(timeoutMs);
    let status: DependencyStatus;
    try {
      await Promise.race([
        c.check(signal),
        new Promise<never>((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error(`health check timed out after ${timeoutMs}ms`)))
        ),
      ]);
      status = { name: c.name, status: "healthy" };
    } catch (e) {
      status = { name: c.name, status: "unhealthy", message: publicMessage(e) };
    }
    return settled[i] = status;
  })).then(reportOf);
  const run: HealthRun = { settled, report, done: false, at };
  report.finally(() => run.done = true);
  return run;
}

function reportOf(dependencies: DependencyStatus[]): HealthReport {
  const firstBad = dependencies.find((d) => d.status === "unhealthy");
  return firstBad
    ? { status: "unhealthy", dependencies, message: firstBad.message }
    : { status: "healthy", dependencies };
}

/**
 * Runs `checks` at most once per `ttlMs`, and never while a run is still going: concurrent and
 * repeated requests share one run, so a client polling `/api/health` or `/api/ready` cannot
 * multiply the probes sent to the blob store and the bus. A request waits at most `answerMs`: a
 * dependency that has not answered by then (a store that hangs) is reported unhealthy at once,
 * with the reason its last settled check gave, while its check goes on (up to 5 s) for the
 * requests after it.
 */
export function sharedHealthRunner(
  checks: readonly HealthCheck[],
  ttlMs = 1_000,
  now: () => number = Date.now,
  answerMs = HEALTH_ANSWER_MS,
): () => Promise<HealthReport> {
  let last: HealthRun | undefined;
  /** Each dependency's status in the last run that settled it: a late answer repeats its reason. */
  const known: (DependencyStatus | undefined)[] = checks.map(() => undefined);
  return async () => {
    const t = now();
    if (!last || (last.done && t - last.at >= ttlMs)) {
      if (last) last.settled.forEach((status, i) => known[i] = status ?? known[i]);
      last = startHealthChecks(checks, 5_000, t);
    }
    const run = last;
    if (run.done) return run.report;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<HealthReport>((resolve) => {
      timer = setTimeout(
        () =>
          resolve(
            reportOf(checks.map((c, i) => {
              const before = known[i]?.status === "unhealthy" ? `${known[i]?.message}; ` : "";
              const message = `${before}${c.name}: no answer within ${answerMs}ms`;
              return run.settled[i] ?? { name: c.name, status: "unhealthy", message };
            })),
          ),
        answerMs,
      );
    });
    try {
      return await Promise.race([run.report, late]);
    } finally {
      clearTimeout(timer);
    }
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
