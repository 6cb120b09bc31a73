/**
 * `bearerAuth`: the middleware that protects the web page's JSON endpoints with the server's
 * `--token`, exactly as the rest of the API is protected (core/pipeline/auth.ts compares in
 * constant time). Without a token it lets everything through. A refused request becomes an
 * `HTTPException` 401 with the one-line reason, which the app's error handler answers as the
 * API's `{"message","code"}` JSON with `WWW-Authenticate: Bearer realm="autopgo"`.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { bearerProblem } from "../pipeline/auth.ts";

/** Options of {@link bearerAuth}. */
export interface BearerAuthOptions {
  /** The token every request must carry as `Authorization: Bearer <token>`; undefined: no check. */
  token?: string;
}

/** Creates the middleware. */
export function bearerAuth(opts: BearerAuthOptions): MiddlewareHandler {
  return async function bearerAuth(c, next) {
    if (opts.token !== undefined) {
      const problem = await bearerProblem(c.req.header("authorization") ?? null, opts.token);
      if (problem) throw new HTTPException(401, { message: problem });
    }
    await next();
  };
}
