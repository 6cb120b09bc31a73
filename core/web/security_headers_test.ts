/** Tests of the `securityHeaders` middleware (security_headers.ts). */

import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { CONTENT_SECURITY_POLICY, securityHeaders } from "./security_headers.ts";

Deno.test("securityHeaders: answers and mapped errors carry the page's protections", async () => {
  const hono = new Hono();
  hono.use("*", securityHeaders());
  hono.get("/ok", (c) => c.html("<p>ok</p>"));
  hono.get("/fail", () => {
    throw new HTTPException(400, { message: "bad" });
  });
  hono.onError((e, c) => c.text(e.message, 400));
  for (const path of ["/ok", "/fail"]) {
    const res = await hono.request(path);
    await res.body?.cancel();
    assert.equal(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, path);
    assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    assert.equal(res.headers.get("x-frame-options"), "DENY");
  }
});
