/**
 * Optional bearer-token protection for the profile API: when a token is configured every
 * request must carry `Authorization: Bearer <token>`. The comparison hashes both sides with
 * SHA-256 and compares the digests without early exit, so response timing reveals nothing
 * about the token (not even its length).
 *
 * @module
 */

/** Constant-time equality of two strings (via SHA-256 digests). */
export async function constantTimeEquals(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/**
 * Checks an `Authorization` header against `token`. Returns undefined when authorised, else
 * the one-line reason for the 401 answer.
 */
export async function bearerProblem(header: string | null, token: string): Promise<string | undefined> {
  if (header === null || header.trim() === "") return "missing bearer token";
  const m = /^Bearer[ \t]+(.+)$/i.exec(header.trim());
  if (!m) return "authorization must use the Bearer scheme";
  return await constantTimeEquals(m[1].trim(), token) ? undefined : "invalid bearer token";
}

/**
 * The 401 answer for `request` when `token` is set and the request does not carry it (the API's
 * `{"message","code"}` JSON with `WWW-Authenticate: Bearer realm="autopgo"`); undefined when the
 * request may go on.
 */
export async function bearerRefusal(request: Request, token: string | undefined): Promise<Response | undefined> {
  if (token === undefined) return undefined;
  const problem = await bearerProblem(request.headers.get("authorization"), token);
  if (!problem) return undefined;
  return Response.json({ message: problem, code: 401 }, {
    status: 401,
    headers: { "www-authenticate": 'Bearer realm="autopgo"' },
  });
}
