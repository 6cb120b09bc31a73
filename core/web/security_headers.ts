/**
 * `securityHeaders`: the middleware that sets the web page's browser protections on every answer
 * of the web sub-app. The Content-Security-Policy allows scripts, styles, images and requests from
 * the server itself only — no inline script, no other origin — so even a name that slipped past
 * escaping could not run; framing is refused (no clickjacking of the token dialog), MIME sniffing
 * is off and no referrer leaves the page.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";

/** The policy the page runs under (its script and style are files served by the app itself). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Creates the middleware. */
export function securityHeaders(): MiddlewareHandler {
  return async function securityHeaders(c, next) {
    await next();
    c.res.headers.set("content-security-policy", CONTENT_SECURITY_POLICY);
    c.res.headers.set("x-content-type-options", "nosniff");
    c.res.headers.set("referrer-policy", "no-referrer");
    c.res.headers.set("x-frame-options", "DENY");
  };
}
