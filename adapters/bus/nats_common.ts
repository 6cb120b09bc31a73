/**
 * What the plain NATS and JetStream drivers share: the URL parameters, the connection to
 * `NATS_SERVER_URL` (with endless reconnects), the message headers, and the mapping of NATS
 * client errors to portable {@link BusErrorKind}s. The URL grammar and delivery semantics are
 * documented in `nats_bus.ts`.
 *
 * @module
 */

import { errors, headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { connectGuarded } from "./nats_transport.ts";
import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { BusError, type BusErrorKind } from "../../core/event_bus.ts";
import { redactUrl } from "../../core/registry.ts";
import { messageLine } from "../../core/public_error.ts";
import { DEFAULT_ACK_DEADLINE_MS } from "./bus_common.ts";
import { driverParams, durationParam } from "../driver_url.ts";

/** Names the driver in errors. */
export const WHAT = "nats event bus";
/** Header carrying {@link OutgoingMessage.orderingKey}. */
export const ORDERING_KEY_HEADER = "Autopgo-Ordering-Key";
/** JetStream's de-duplication header; also the message id plain NATS readers report. */
export const MSG_ID_HEADER = "Nats-Msg-Id";

const PLAIN_PARAMS = ["natsv2", "queue", "jetstream"] as const;
const JETSTREAM_PARAMS = [
  "stream_name",
  "stream_storage",
  "create_stream",
  "consumer_durable_name",
  "consumer_ack_wait",
] as const;

/** Settings parsed from a `nats://` URL. */
export interface NatsSettings {
  /** The subject: the URL's host and path joined, as gocloud does (`nats://profile` → `profile`). */
  subject: string;
  /** `jetstream=true`: at-least-once delivery through a stream and a durable pull consumer. */
  jetstream: boolean;
  /** `queue`: plain NATS queue group; in JetStream mode the default durable consumer name. */
  queue?: string;
  /** `stream_name` (default: the subject with characters streams cannot use replaced by `_`). */
  streamName: string;
  /** `stream_storage`: `file` (default) or `memory`, used only when the stream is created. */
  streamStorage: "file" | "memory";
  /** `create_stream` (default true): create a missing stream instead of failing with not-found. */
  createStream: boolean;
  /** `consumer_durable_name` (default: `queue`, else `autopgo-worker`). */
  durableName: string;
  /** `consumer_ack_wait` (default `DEFAULT_ACK_DEADLINE_MS`): how long a delivery may stay unacked before redelivery. */
  ackWaitMs: number;
}

/** Parses a gocloud-style boolean (`true`, `1`, `t`, `false`, `0`, `f`…; empty means true). */
function boolParam(params: Map<string, string>, name: string, fallback: boolean): boolean {
  const text = params.get(name);
  if (text === undefined) return fallback;
  if (/^(|1|t|true)$/i.test(text)) return true;
  if (/^(0|f|false)$/i.test(text)) return false;
  throw new Error(`${WHAT} URL parameter ${name}=${JSON.stringify(text)}: expected true or false`);
}

/** A name JetStream accepts for a stream or consumer. */
function checkName(kind: string, name: string): string {
  if (!/^[^.*>\s/\\]{1,255}$/.test(name)) {
    throw new Error(`${WHAT} URL: invalid ${kind} ${JSON.stringify(name)} (no '.', '*', '>', '/', '\\' or spaces)`);
  }
  return name;
}

/** Parses and checks a `nats://` URL (every parameter is accepted on both the writer and reader side). */
export function natsSettings(url: URL): NatsSettings {
  const shown = JSON.stringify(redactUrl(url.href));
  const params = driverParams(url, [...PLAIN_PARAMS, ...JETSTREAM_PARAMS], WHAT);
  if (url.username || url.password || url.port) {
    throw new Error(`${WHAT} URL ${shown}: the server comes from NATS_SERVER_URL; the URL names only the subject`);
  }
  if (url.hash) throw new Error(`${WHAT} URL ${shown}: unexpected fragment`);
  const subject = [url.host, url.pathname].join("/").replace(/\/+/g, "/").replace(/^\/|\/$/g, "");
  if (!subject || !/^[^\s*>]+$/.test(subject) || subject.split(".").some((token) => token === "")) {
    throw new Error(`${WHAT} URL ${shown}: expected nats://subject with a literal subject (no wildcards or spaces)`);
  }
  boolParam(params, "natsv2", true); // accepted for the original's URLs; headers are always native
  const jetstream = boolParam(params, "jetstream", false);
  if (!jetstream) {
    const misplaced = JETSTREAM_PARAMS.find((name) => params.has(name));
    if (misplaced) throw new Error(`${WHAT} URL ${shown}: ${misplaced} needs jetstream=true`);
  }
  const queue = params.get("queue");
  if (queue !== undefined && !/^[^\s*>]+$/.test(queue)) {
    throw new Error(`${WHAT} URL ${shown}: invalid queue ${JSON.stringify(queue)}`);
  }
  const storage = params.get("stream_storage") ?? "file";
  if (storage !== "file" && storage !== "memory") {
    throw new Error(`${WHAT} URL parameter stream_storage=${JSON.stringify(storage)}: expected file or memory`);
  }
  return {
    subject,
    jetstream,
    queue,
    streamName: checkName("stream_name", params.get("stream_name") ?? subject.replace(/[.*>\s/\\]/g, "_")),
    streamStorage: storage,
    createStream: boolParam(params, "create_stream", true),
    durableName: checkName(
      "consumer_durable_name",
      params.get("consumer_durable_name") ?? (jetstream && queue ? queue : "autopgo-worker"),
    ),
    ackWaitMs: durationParam(params, "consumer_ack_wait", DEFAULT_ACK_DEADLINE_MS, WHAT, 1),
  };
}

/** Options of the NATS openers (tests inject the server). */
export interface NatsBusOptions {
  /** Server URL(s), comma-separated (default: the `NATS_SERVER_URL` environment variable). */
  serverUrl?: string;
}

/** Hides passwords and tokens in a (comma-separated) NATS server URL. */
export function redactServers(servers: string): string {
  return servers.split(",").map((server) => redactUrl(server.trim()).replace(/\/\/[^@/]+@/, "//xxxxx@")).join(",");
}

/** Server addresses without user info, and the user/password or token taken from them (as nats.go reads them). */
export function serverAddresses(raw: string): { servers: string[]; user?: string; pass?: string; token?: string } {
  const servers: string[] = [];
  let auth: { user?: string; pass?: string; token?: string } = {};
  for (const entry of raw.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    let url: URL;
    try {
      url = new URL(entry.includes("://") ? entry : `nats://${entry}`);
    } catch {
      throw new BusError(
        "invalid",
        `${WHAT}: NATS_SERVER_URL entry ${JSON.stringify(redactServers(entry))} is not a URL`,
      );
    }
    if (url.username && auth.user === undefined && auth.token === undefined) {
      const name = decodeURIComponent(url.username);
      auth = url.password ? { user: name, pass: decodeURIComponent(url.password) } : { token: name };
    }
    servers.push(`${url.protocol}//${url.host}`);
  }
  return { servers, ...auth };
}

/** A connection to the NATS server(s) that reconnects forever and remembers whether it is up. */
export interface NatsLink {
  readonly nc: NatsConnection;
  /** The servers, credentials hidden. */
  readonly servers: string;
  /** False between a disconnect and the following reconnect. */
  connected(): boolean;
  /**
   * Resolves at once when connected, else at the next reconnect; rejects `unavailable` after `ms`.
   * Publishing while disconnected is not safe: the client buffers such a request, but its reply
   * never arrives after the reconnect, so the publish would only time out.
   */
  waitConnected(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Connects to `NATS_SERVER_URL` (or `options.serverUrl`). Throws a one-line {@link BusError}
 * when the variable is unset (`invalid`) or no server answers (`unavailable`, or `permission`
 * for rejected credentials). Afterwards the client reconnects without limit.
 */
export async function connectNats(options: NatsBusOptions, role: string): Promise<NatsLink> {
  const raw = options.serverUrl ?? Deno.env.get("NATS_SERVER_URL");
  if (!raw?.replaceAll(",", "").trim()) {
    throw new BusError("invalid", `${WHAT}: NATS_SERVER_URL is not set (e.g. nats://127.0.0.1:4222)`);
  }
  const servers = redactServers(raw);
  const addresses = serverAddresses(raw);
  let nc: NatsConnection;
  try {
    nc = await connectGuarded({
      ...addresses,
      name: `autopgo ${role}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      pingInterval: 30_000,
      timeout: 10_000,
      // Every request (a JetStream publish, a double ack) would otherwise build an Error with a stack
      // trace for its call site before it is sent: about 10 µs of a publish's 70–110 µs of CPU here.
      // Failures are reported by their message, with this module's context, not by that stack.
      noAsyncTraces: true,
    });
  } catch (error) {
    const kind = natsErrorKind(error);
    const message = `${WHAT}: cannot connect to ${servers}: ${messageLine(error)}`;
    throw new BusError(kind === "unknown" ? "unavailable" : kind, message, { cause: error });
  }
  let up = true;
  let reconnected = Promise.withResolvers<void>();
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        up = false;
      } else if (status.type === "reconnect") {
        up = true;
        reconnected.resolve();
        reconnected = Promise.withResolvers<void>();
      }
    }
  })().catch(() => {/* the status stream ends with the connection */});
  const connected = () => up && !nc.isClosed();
  return {
    nc,
    servers,
    connected,
    async waitConnected(ms, signal) {
      if (nc.isClosed()) throw new BusError("closed", `${WHAT}: the connection to ${servers} is closed`);
      if (!connected()) await withTimeout(reconnected.promise, ms, `${WHAT}: not reconnected to ${servers}`, signal);
    },
  };
}

/** Throws `unavailable` unless the connection is up and the server answers a ping within `timeoutMs`. */
export async function checkLink(link: NatsLink, signal?: AbortSignal, timeoutMs = 5_000): Promise<void> {
  if (link.nc.isClosed()) throw new BusError("closed", `${WHAT}: the connection to ${link.servers} is closed`);
  if (!link.connected()) throw new BusError("unavailable", `${WHAT}: disconnected from ${link.servers}, reconnecting`);
  await withTimeout(link.nc.flush(), timeoutMs, `${WHAT}: ${link.servers} did not answer a ping`, signal);
}

/** Resolves as `work` does, or rejects with an `unavailable` {@link BusError} after `ms` or on abort. */
export async function withTimeout<T>(work: Promise<T>, ms: number, message: string, signal?: AbortSignal): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BusError("unavailable", `${message} within ${ms}ms`)), ms);
    onAbort = () => reject(signal?.reason ?? new DOMException("aborted", "AbortError"));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

/** Headers for one outgoing message. */
export function messageHeaders(id: string, orderingKey: string | undefined): MsgHdrs {
  const h = natsHeaders();
  h.set(MSG_ID_HEADER, id);
  if (orderingKey !== undefined) h.set(ORDERING_KEY_HEADER, orderingKey);
  return h;
}

/** A header's value, or `undefined` when absent or empty. */
export function headerValue(h: MsgHdrs | undefined, name: string): string | undefined {
  return h?.has(name) ? h.get(name) : undefined;
}

const JS_STREAM_NOT_FOUND = 10059;
const JS_CONSUMER_NOT_FOUND = 10014;

/** Maps an error of the NATS clients (or its causes) to a portable kind. */
export function natsErrorKind(error: unknown): BusErrorKind {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 6; depth++, e = e.cause) {
    if (e instanceof BusError) return e.kind;
    if (
      e instanceof errors.AuthorizationError || e instanceof errors.PermissionViolationError ||
      e instanceof errors.UserAuthenticationExpiredError
    ) return "permission";
    if (e instanceof JetStreamApiError) { // includes StreamNotFoundError and ConsumerNotFoundError
      if (e.code === JS_STREAM_NOT_FOUND || e.code === JS_CONSUMER_NOT_FOUND || e.status === 404) return "not-found";
      if (e.status === 403) return "permission";
      if (e.status === 503 || e.status === 408 || e.status >= 500) return "unavailable";
      return "invalid";
    }
    if (e instanceof errors.ClosedConnectionError || e instanceof errors.DrainingConnectionError) return "closed";
    if (
      e instanceof errors.ConnectionError || e instanceof errors.TimeoutError ||
      e instanceof errors.NoRespondersError || e.name === "JetStreamNotEnabled"
    ) return "unavailable";
    if (
      e instanceof errors.InvalidSubjectError || e instanceof errors.InvalidArgumentError ||
      e.name === "InvalidNameError"
    ) return "invalid";
    if (e instanceof JetStreamError) return "unavailable"; // status 408/409, missed heartbeats: pull again
  }
  return "unknown";
}
