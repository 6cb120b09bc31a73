/**
 * Scrape targets and the `TargetSource` interface every discovery mode (file, kube, nomad,
 * consul) implements, plus the shared helpers that turn discovered endpoints into profile URLs
 * (IPv6-safe host joining, the `autopgo.scrape.*` keys, `?seconds=` URLs).
 *
 * @module
 */

/** One Go service exposing `net/http/pprof`. */
export interface Target {
  /** `scheme://host:port` of the service (no path). */
  address: string;
  /** Path of the CPU profile endpoint; defaults to {@link DEFAULT_PROFILE_PATH}. */
  path?: string;
}

/** Where the scraper gets its targets from. */
export interface TargetSource {
  /** Name of the health dependency (`file:///x.json`, `kubernetes`, `nomad`, `consul`). */
  readonly name: string;
  /** Current targets; throws (one-line message) when discovery fails. */
  list(signal: AbortSignal): Promise<Target[]>;
  /** Resolves when the source is reachable/readable, throws with the reason otherwise. */
  check(signal: AbortSignal): Promise<void>;
  /** Releases listeners and clients. */
  close?(): void | Promise<void>;
}

/** Default profile endpoint of `net/http/pprof`. */
export const DEFAULT_PROFILE_PATH = "/debug/pprof/profile";

/** Label/tag/annotation keys of the original (`internal/target/target.go`). */
export const SCRAPE_KEYS = {
  scrape: "autopgo.scrape",
  app: "autopgo.scrape.app",
  port: "autopgo.scrape.port",
  path: "autopgo.scrape.path",
  scheme: "autopgo.scrape.scheme",
} as const;

/** `host:port`, bracketing IPv6 literals (`[::1]:8080`) like Go's `net.JoinHostPort`. */
export function joinHostPort(host: string, port: number | string): string {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare.includes(":") ? `[${bare}]:${port}` : `${bare}:${port}`;
}

/**
 * Builds a target from discovered parts, validating them. Throws a one-line error naming the
 * bad part (e.g. a scheme other than http/https or a port outside 1–65535).
 */
export function makeTarget(parts: { scheme?: string; host: string; port: number | string; path?: string }): Target {
  const scheme = (parts.scheme || "http").toLowerCase();
  if (scheme !== "http" && scheme !== "https") throw new Error(`scheme must be http or https, got "${parts.scheme}"`);
  if (!parts.host) throw new Error("no address");
  const port = Number(parts.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid port "${parts.port}"`);
  const target: Target = { address: `${scheme}://${joinHostPort(parts.host, port)}` };
  if (parts.path) {
    if (!parts.path.startsWith("/")) throw new Error(`path must start with "/", got "${parts.path}"`);
    target.path = parts.path;
  }
  return target;
}

/**
 * Parses `key=value` tags (Nomad/Consul) into a map, keeping only `autopgo*` keys like the
 * original. Later duplicates win.
 */
export function parseScrapeTags(tags: readonly string[] | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const tag of tags ?? []) {
    const eq = tag.indexOf("=");
    if (eq <= 0 || !tag.startsWith("autopgo")) continue;
    out.set(tag.slice(0, eq).trim(), tag.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Checks a scrape duration: whole seconds, at least one (net/http/pprof only parses integer
 * `seconds`). Returns the seconds or throws a one-line error.
 */
export function profileSeconds(durationMs: number): number {
  if (!Number.isFinite(durationMs) || durationMs < 1000) {
    throw new Error(`duration must be at least 1s, got ${durationMs}ms`);
  }
  if (durationMs % 1000 !== 0) {
    throw new Error(`duration must be whole seconds (net/http/pprof ignores fractions), got ${durationMs}ms`);
  }
  return durationMs / 1000;
}

/** The profile URL of `target` with `?seconds=<seconds>` (path and query replaced as the original). */
export function profileUrl(target: Target, seconds: number): URL {
  const url = new URL(target.address);
  url.pathname = target.path || DEFAULT_PROFILE_PATH;
  url.search = `seconds=${seconds}`;
  url.hash = "";
  return url;
}

/** Stable identity of a target, used to de-duplicate discovery results. */
export function targetKey(target: Target): string {
  return `${target.address}${target.path ?? ""}`;
}

/** Removes duplicate targets (same address and path), keeping the first. */
export function uniqueTargets(targets: readonly Target[]): Target[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = targetKey(t);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
