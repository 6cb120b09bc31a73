/**
 * The route of a request as metrics and access logs name it: the pattern a Hono route was
 * registered with (`/api/profile/:app`), never the path, so a label has one value per route and
 * not one per app or per scanner probe. Read after `await next()` in a middleware. The method is
 * bounded the same way: a client may send any token as a method, and each new one would otherwise
 * add a series to the metrics that is never dropped (300 made-up methods added 5,400 lines).
 *
 * @module
 */

import type { Context } from "hono";
import { matchedRoutes } from "hono/route";

/** Where Hono keeps the original handler of a sub-app route it wrapped (hono/utils/constants). */
const COMPOSED = "__COMPOSED_HANDLER";

/** The method label of a request whose method is none of {@link KNOWN_METHODS}. */
export const OTHER_METHOD = "other";

/** The methods of RFC 9110 and PATCH: the method labels a request can have besides {@link OTHER_METHOD}. */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

/** The label of `method`: itself when it is one of {@link KNOWN_METHODS} (methods are case-sensitive), else {@link OTHER_METHOD}. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : OTHER_METHOD;
}

/** The route label of requests that no route answered (Hono's not-found handler). */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * The pattern of the first handler (not middleware) matched by this request, or
 * {@link UNMATCHED_ROUTE}. A middleware that answers early (a 401 from a token check) still
 * reports the route it guarded.
 */
export function routeOf(c: Context): string {
  try {
    for (const route of matchedRoutes(c)) {
      // Hono tells middleware from handlers the same way: a middleware takes `next`. A handler of a
      // sub-app with its own error handler is wrapped in one that does; the original is kept on it.
      const handler = (route.handler as { [COMPOSED]?: (...args: unknown[]) => unknown })[COMPOSED] ?? route.handler;
      if (handler.length < 2 && route.path !== "*" && !route.path.endsWith("/*")) return route.path;
    }
  } catch { /* no match result (the request never reached the router) */ }
  return UNMATCHED_ROUTE;
}

/**
 * The value of the `:app` segment of `route` in `path` (`/api/profile/:app` and
 * `/api/profile/shop` give `shop`), or undefined when the route has none.
 */
export function appOf(route: string, path: string): string | undefined {
  const names = route.split("/");
  const index = names.indexOf(":app");
  if (index < 0) return undefined;
  const segment = path.split("/")[index];
  if (segment === undefined || segment === "") return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
