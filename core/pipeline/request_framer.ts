/**
 * Request framing for the connection guard (conn_guard.ts): follows the HTTP/1.1 request
 * boundaries of one client→server byte stream (head, Content-Length or chunked body,
 * keep-alive, pipelining) without rewriting a byte, so the guard knows which timeout applies.
 *
 * @module
 */

import { contentLengthProblem, headerLineProblem, MAX_HEADER_FIELDS, requestLineProblem } from "./request_head.ts";

/** Where a client's byte stream stands. */
export type Phase = "idle" | "head" | "body" | "raw" | "overflow" | "refused" | "malformed";

/** Longest header line kept for framing; a longer Content-Length or Transfer-Encoding line loses the framing. */
const MAX_FRAMING_LINE = 1024;
/** Longest chunk-size line, extensions included (the server refuses far shorter ones anyway). */
const MAX_CHUNK_SIZE_LINE = 4096;

/**
 * Tracks request boundaries of one client→server byte stream (observes, never rewrites). Linear
 * in the bytes pushed: a head is read line by line and only its framing headers are kept (a head
 * built up as one string and searched for its end at every line break cost 52 ms of CPU for one
 * 64 KiB head of short lines).
 */
export class RequestFramer {
  readonly #maxHeaderBytes: number;
  #state:
    | "head"
    | "length"
    | "chunk-size"
    | "chunk-data"
    | "chunk-crlf"
    | "trailer"
    | "raw"
    | "overflow"
    | "refused"
    | "malformed" = "head";
  /** Bytes of the current head so far (0: between requests). */
  #headBytes = 0;
  /** The current head line (the first {@link MAX_FRAMING_LINE} bytes) and whether it was longer. */
  #headLine = "";
  #headLineCut = false;
  #headLines = 0;
  #length = 0;
  /** The request's `Content-Length` value as first sent, and whether `Transfer-Encoding` was sent. */
  #lengthText: string | undefined;
  #transferEncoding = false;
  /** Whether the request has a Host header. */
  #host = false;
  #chunked = false;
  #remaining = 0;
  #line = "";
  /** Bytes of the current chunk-size line or trailer section so far. */
  #lineBytes = 0;
  #trailerBytes = 0;
  /** What went over its size limit once {@link phase} is "overflow": the head or the trailer section. */
  overflowPart: "head" | "trailers" = "head";
  /** Number of request heads started so far. */
  headsStarted = 0;
  /**
   * Why the body of request {@link headsStarted} cannot be framed, when its chunked encoding is
   * broken (a chunk size that is not hexadecimal or does not fit 64 bits, chunk data not followed
   * by CRLF, a trailer line that is not a header): the server closes such a connection without
   * an answer, so the guard answers 400 for it (conn_guard.ts).
   */
  malformedBody: string | undefined;
  /**
   * Why the head of request {@link headsStarted} is refused (request_head.ts): `Deno.serve` answers
   * such a head 400 without a body, so the guard answers it instead, with the reason, and never
   * relays it (conn_guard.ts).
   */
  malformedHead: string | undefined;
  /**
   * Bytes of the last {@link push} that were read: all of them, unless a malformed head stopped it,
   * or a request ended while {@link stopAtRequestEnd} is set.
   */
  consumed = 0;
  /** Requests read whole so far (head and body; not those whose framing was lost). */
  requestsEnded = 0;
  /** Makes {@link push} stop right after the end of a request (see {@link consumed}). */
  stopAtRequestEnd = false;
  /** Creates a framer rejecting heads above `maxHeaderBytes`. */
  constructor(maxHeaderBytes: number) {
    this.#maxHeaderBytes = maxHeaderBytes;
  }

  /** Where the stream stands after the bytes pushed so far. */
  get phase(): Phase {
    if (this.#state === "head") return this.#headBytes === 0 ? "idle" : "head";
    if (["raw", "overflow", "refused", "malformed"].includes(this.#state)) return this.#state as Phase;
    return "body";
  }

  /**
   * The last bytes read that belong to a request head not yet complete (or to the malformed head):
   * the guard holds them back until the head is complete, so that a head it refuses never reaches
   * the server.
   */
  get pendingHeadBytes(): number {
    return this.#state === "head" || this.#state === "malformed" ? this.#headBytes : 0;
  }

  /** Feeds the next bytes from the client. */
  push(chunk: Uint8Array): void {
    let i = 0;
    this.consumed = chunk.length;
    const endedBefore = this.requestsEnded;
    while (i < chunk.length) {
      if (this.stopAtRequestEnd && this.requestsEnded !== endedBefore) {
        this.consumed = i;
        return;
      }
      switch (this.#state) {
        case "malformed":
          this.consumed = i;
          return;
        case "raw":
        case "overflow":
        case "refused":
          return;
        case "length": {
          const take = Math.min(this.#remaining, chunk.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) {
            this.#state = "head";
            this.requestsEnded++;
          }
          break;
        }
        case "chunk-data": {
          const take = Math.min(this.#remaining, chunk.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#state = "chunk-crlf";
          break;
        }
        case "chunk-crlf": {
          const b = chunk[i++];
          if (b === 0x0a) this.#state = "chunk-size";
          else if (b !== 0x0d) this.#malformed("chunk data not followed by CRLF");
          break;
        }
        case "chunk-size":
        case "trailer":
          this.#lineByte(chunk[i++]);
          break;
        case "head":
          this.#headByte(chunk[i++]);
          break;
      }
    }
  }

  #headByte(b: number): void {
    if (this.#headBytes === 0) {
      if (b === 0x0d || b === 0x0a) return; // blank lines between requests
      this.headsStarted++;
      [this.#headLines, this.#length, this.#chunked, this.malformedBody] = [0, 0, false, undefined];
      [this.#lengthText, this.#transferEncoding, this.#host] = [undefined, false, false];
    }
    if (++this.#headBytes > this.#maxHeaderBytes) {
      this.overflowPart = "head";
      this.#state = "overflow";
      return;
    }
    if (b !== 0x0a) {
      if (this.#headLine.length < MAX_FRAMING_LINE) this.#headLine += String.fromCharCode(b);
      else this.#headLineCut = true;
      return;
    }
    const line = this.#headLine.endsWith("\r") ? this.#headLine.slice(0, -1) : this.#headLine;
    const cut = this.#headLineCut;
    [this.#headLine, this.#headLineCut] = ["", false];
    if (line === "" && !cut && this.#headLines > 0) return this.#endHead();
    const first = this.#headLines++ === 0;
    if (first && line.startsWith("PRI * HTTP/2")) return void (this.#state = "refused"); // HTTP/2 is not served (module doc)
    // A cut line is judged by the server: only its first MAX_FRAMING_LINE bytes are kept here.
    if (this.#headLines > MAX_HEADER_FIELDS + 1) {
      return this.#refuseHead(`more than ${MAX_HEADER_FIELDS} header fields`);
    }
    const problem = cut ? undefined : first ? requestLineProblem(line) : headerLineProblem(line);
    if (problem) return this.#refuseHead(problem);
    if (!first) this.#framingHeader(line, cut);
  }

  /** The head being read is malformed for `why`: nothing more is read (see {@link malformedHead}). */
  #refuseHead(why: string): void {
    this.#state = "malformed";
    this.malformedHead = why;
  }

  /** Notes a header line's framing: `Transfer-Encoding` (chunked last) or `Content-Length`. */
  #framingHeader(line: string, cut: boolean): void {
    const colon = line.indexOf(":");
    if (colon <= 0) return;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === "host") {
      if (this.#host) return this.#refuseHead("more than one Host header");
      this.#host = true;
    }
    if (name !== "transfer-encoding" && name !== "content-length") return;
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (cut) return void (this.#length = NaN); // too long to frame: left to the server
    if (name === "transfer-encoding") {
      this.#transferEncoding = true;
      this.#chunked = /(^|,)\s*chunked\s*$/.test(value);
      return;
    }
    const problem = contentLengthProblem(value, this.#lengthText);
    if (problem) return this.#refuseHead(problem);
    this.#lengthText ??= value;
    this.#length = Number(value.split(",")[0]);
  }

  #endHead(): void {
    if (this.#transferEncoding && this.#lengthText !== undefined) {
      return this.#refuseHead("both Transfer-Encoding and Content-Length");
    }
    if (this.#transferEncoding && !this.#chunked) {
      return this.#refuseHead("Transfer-Encoding does not end with chunked");
    }
    this.#headBytes = 0;
    if (this.#chunked) this.#state = "chunk-size";
    else if (Number.isNaN(this.#length)) this.#state = "raw"; // malformed: the server answers 400 and closes
    else if (this.#length > 0) {
      this.#state = "length";
      this.#remaining = this.#length;
    } else this.requestsEnded++;
  }

  /** The body's framing is lost for `why` (see {@link malformedBody}). */
  #malformed(why: string): void {
    this.#state = "raw";
    this.malformedBody = why;
  }

  #lineByte(b: number): void {
    // The server buffers a trailer section whole: 800 MB of trailers took as much memory in 10 s.
    // It gets the head's limit; a chunk-size line (with extensions) the longest framing line.
    if (this.#state === "trailer" && ++this.#trailerBytes > this.#maxHeaderBytes) {
      this.overflowPart = "trailers";
      this.#state = "overflow";
      return;
    }
    if (b !== 0x0a) {
      if (++this.#lineBytes > MAX_CHUNK_SIZE_LINE && this.#state === "chunk-size") {
        return this.#malformed(`chunk size line over ${MAX_CHUNK_SIZE_LINE} bytes`);
      }
      if (this.#line.length < 4096) this.#line += String.fromCharCode(b);
      return;
    }
    const line = this.#line.replace(/\r$/, "");
    this.#line = "";
    this.#lineBytes = 0;
    if (this.#state === "trailer") {
      if (line === "") {
        this.#state = "head";
        this.requestsEnded++;
      } else if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/.test(line)) this.#malformed("invalid trailer line");
      return;
    }
    const digits = line.split(";")[0].trim();
    const size = parseInt(digits, 16);
    if (!/^[0-9a-fA-F]+$/.test(digits) || digits.replace(/^0+/, "").length > 16) {
      this.#malformed(`invalid chunk size ${JSON.stringify(digits.slice(0, 32))}`);
    } else if (size === 0) {
      this.#state = "trailer";
      this.#trailerBytes = 0;
    } else {
      this.#state = "chunk-data";
      this.#remaining = size;
    }
  }
}
