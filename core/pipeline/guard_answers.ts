/**
 * The answers the connection guard (conn_guard.ts) writes itself, without the server: one-line JSON
 * bodies like the API's errors, each closing the connection.
 *
 * @module
 */

/** 503: every place and the waiting room are taken. */
export const BUSY = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\n" +
    "content-length: 52\r\n\r\n" + JSON.stringify({ message: "too many connections", code: 503 }).padEnd(52),
);

/** A 400 answer saying what was wrong with a request (one line, JSON like the API's errors). */
export function badRequest(message: string): Uint8Array {
  const body = JSON.stringify({ message, code: 400 }) + "\n";
  const bytes = new TextEncoder().encode(body);
  return new TextEncoder().encode(
    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n" +
      `content-length: ${bytes.byteLength}\r\n\r\n${body}`,
  );
}

/**
 * The answer to an HTTP/2 connection preface (prior knowledge, h2c without an upgrade): HTTP/2's
 * own refusal, an empty SETTINGS frame (a server's preface) and a GOAWAY with the error code
 * HTTP_1_1_REQUIRED (0xd) and a line saying so, where a bare close left a client with "stream 1 was
 * not closed cleanly".
 */
export const HTTP2_REFUSAL: Uint8Array = (() => {
  const debug = new TextEncoder().encode("HTTP/2 is not served here: use HTTP/1.1");
  const settings = [0, 0, 0, 0x4, 0, 0, 0, 0, 0];
  const length = 8 + debug.byteLength;
  const goaway = [length >> 16, (length >> 8) & 0xff, length & 0xff, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd];
  return Uint8Array.from([...settings, ...goaway, ...debug]);
})();

/** 431: the trailer section of a chunked request is over the head's size limit. */
export const TRAILERS_TOO_LARGE = new TextEncoder().encode(
  "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n" +
    "content-length: 64\r\n\r\n" + JSON.stringify({ message: "request trailers too large", code: 431 }).padEnd(64),
);

/** 431: the request head is over the size limit. */
export const HEAD_TOO_LARGE = new TextEncoder().encode(
  "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n" +
    "content-length: 64\r\n\r\n" + JSON.stringify({ message: "request head too large", code: 431 }).padEnd(64),
);
