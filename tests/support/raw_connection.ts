/**
 * Raw TCP helpers for tests that play a misbehaving HTTP client (slow heads, floods, upgrades).
 *
 * @module
 */

/** Reads from `conn` until the peer closes it (or `limitMs` passes); returns what arrived and how long it took. */
export async function readUntilClosed(conn: Deno.Conn, limitMs: number): Promise<{ text: string; ms: number }> {
  const started = Date.now();
  const timer = setTimeout(() => conn.close(), limitMs);
  const chunks: string[] = [];
  const buffer = new Uint8Array(4096);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(new TextDecoder().decode(buffer.subarray(0, n)));
    }
  } catch { /* closed */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* already closed */ }
  return { text: chunks.join(""), ms: Date.now() - started };
}

/**
 * Reads from `conn` until a whole response head has arrived (or the peer closes, or `limitMs`
 * passes), without waiting for the connection to close; returns what arrived and how long it took.
 */
export async function readResponseHead(conn: Deno.Conn, limitMs: number): Promise<{ text: string; ms: number }> {
  const started = Date.now();
  const timer = setTimeout(() => conn.close(), limitMs);
  let text = "";
  const buffer = new Uint8Array(4096);
  try {
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } catch { /* closed by the limit */ }
  clearTimeout(timer);
  return { text, ms: Date.now() - started };
}

/** Closes every connection of `conns`, ignoring those already closed (by the peer or a timeout). */
export function closeAll(conns: Iterable<Deno.Conn>): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * Connects to `port` on 127.0.0.1, sends each of `parts` in its own write (one byte per character,
 * 50 ms apart) and reads until the server closes the connection (or `limitMs` passes).
 */
export async function rawExchange(port: number, parts: string[], limitMs = 10_000): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    await conn.write(Uint8Array.from(part, (c) => c.charCodeAt(0)));
  }
  return (await readUntilClosed(conn, limitMs)).text;
}
