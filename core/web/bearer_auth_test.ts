/** Tests of the `bearerAuth` middleware (bearer_auth.ts). */

import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { bearerAuth } from "./bearer_auth.ts";

function app(token?: string): Hono {
  const hono = new Hono();
  hono.use("*", bearerAuth({ token }));
  hono.get("/x", (c) => c.text("ok"));
  hono.onError((e, c) => c.text(e.message, e instanceof HTTPException ? e.status : 500));
  return hono;
}

async function status(hono: Hono, authorization?: string): Promise<[number, string]> {
  const res = await hono.request("/x", { headers: authorization ? { authorization } : {} });
  return [res.status, await res.text()];
}

Deno.test("bearerAuth: without a token every request passes", async () => {
  assert.deepEqual(await status(app()), [200, "ok"]);
});

Deno.test("bearerAuth: with a token only the right bearer passes, each refusal says why", async () => {
  const hono = app("s3cret");
  assert.deepEqual(await status(hono), [401, "missing bearer token"]);
  assert.deepEqual(await status(hono, "Basic czNjcmV0"), [401, "authorization must use the Bearer scheme"]);
  assert.deepEqual(await status(hono, "Bearer nope"), [401, "invalid bearer token"]);
  assert.deepEqual(await status(hono, "Bearer s3cret"), [200, "ok"]);
  assert.deepEqual(await status(hono, "bearer   s3cret"), [200, "ok"]);
});
