/**
 * `nats://` event bus: plain NATS (the original autopgo's at-most-once bus) and JetStream
 * (at-least-once; the mode we recommend).
 *
 * # URLs
 *
 * `nats://SUBJECT?natsv2=true[&queue=GROUP]` — plain NATS, exactly the original's URLs;
 * `nats://SUBJECT?natsv2=true&jetstream=true[&…]` — JetStream. The subject is the URL's host and
 * path (`nats://autopgo.profile` → `autopgo.profile`, as gocloud's `natspubsub` reads it); it must
 * be literal (no `*` or `>`). The server is never in the URL: it comes from `NATS_SERVER_URL`.
 * Every parameter is accepted on both the writer and the reader side, so the server and the
 * workers can share one URL; an unknown or repeated parameter is an error.
 *
 * - `natsv2` (gocloud): accepted for compatibility. Messages always use native NATS headers
 *   (server ≥ 2.2); gocloud readers in either mode read autopgo's messages, which carry no
 *   gocloud metadata.
 * - `queue` (gocloud): plain NATS queue group — each message goes to one member of the group.
 *   With `jetstream=true` it is the default durable consumer name, so the original worker URL
 *   plus `&jetstream=true` works.
 * - `jetstream` (true|false, default false): select JetStream. The JetStream parameter names
 *   follow the gocloud-compatible JetStream driver (github.com/pitabwire/natspubsub, which the
 *   go-cloud maintainers point to; in-tree `natspubsub` has no JetStream support):
 *   - `stream_name`: the stream (default: the subject with `.` and other characters streams
 *     cannot use replaced by `_`). An existing stream must capture the subject.
 *   - `stream_storage`: `file` (default) or `memory`; only used when the stream is created.
 *   - `consumer_durable_name`: the durable pull consumer every reader of this URL shares
 *     (default: `queue`, else `autopgo-worker`).
 *   - `consumer_ack_wait` (Go duration, default `6s` like the built-in buses' `ackdeadline`):
 *     the ack deadline, renewed every third of it while a handler runs, so a killed worker's
 *     events come back within seconds. A reader sets it on the consumer when it creates it and
 *     updates an existing consumer whose value differs.
 *   - `create_stream` (autopgo's; true|false, default true): create a missing stream (subjects =
 *     the subject, work-queue retention, so acked messages are deleted). With `false` a missing
 *     stream is a `not-found` error at open. An existing stream is used as it is. A work-queue
 *     stream accepts one consumer for the subject, so every worker uses the same durable name.
 *   JetStream parameters without `jetstream=true` are an error: they would silently give
 *   at-most-once delivery.
 *
 * # Message delivery semantics
 *
 * Plain NATS is at-most-once, as in the original (spec §8 #14). `send` resolves once the server
 * has received the message (a flush round trip), but the server stores nothing: a message
 * published while no reader is subscribed is dropped, and so is one a reader had received when
 * its process died. `ack` is a no-op; `nack` cannot redeliver (it logs a warning);
 * `deliveryAttempt` is always 1. Opening a plain NATS writer or reader logs a warning saying so.
 * autopgo copes: the worker's reconcile sweep (`core/pipeline/reconcile.ts`) merges staged
 * uploads whose events were lost, one sweep interval later. No ordering: members of a queue
 * group receive messages in parallel.
 *
 * JetStream is at-least-once. `send` resolves once the stream has stored the message (the
 * publish acknowledgement) and sets `Nats-Msg-Id`, identical for the portable layer's retries of
 * one send, so a retry after a lost acknowledgement is stored once. The stream keeps messages
 * published while no worker runs. Readers pull one message per waiting receive from a durable
 * consumer (nats_jetstream_reader.ts) with explicit acks: `ack` is sent without waiting for a
 * confirmation (a lost one makes the message come back, and handling is idempotent);
 * `nack(delay)` is a `-NAK` with
 * that delay (default backoff 1s, 2s, 4s… ≤ 60s); a message neither acked nor nacked within
 * `consumer_ack_wait` (for example because its worker was killed) is delivered again;
 * `inProgress` sends `+WPI`, which the portable layer does every third of the ack wait while a
 * handler runs; `deliveryAttempt` is the server's delivery count; closing a reader hands its
 * unsettled messages back at once, and so does a receive aborted just as its message arrived
 * (the attempt count goes up). Ordering: one reader receives messages in stream
 * (publication) order, but competing readers may hold successive messages of one ordering key at
 * the same time: JetStream keeps no per-key lock (only `max_ack_pending=1`, which would serialise
 * every app). autopgo's merges are compare-and-swap, so that is safe. The ordering key travels in
 * the `Autopgo-Ordering-Key` header. The client reconnects on its own. A send, ack or nack made
 * while it is disconnected waits for the reconnect (up to 5 s; a request buffered while
 * disconnected would never get its reply), then fails as `unavailable`, which the portable
 * layer retries for sends. What the stream stored survives a server restart with file storage,
 * even a `kill -9` of the server (tested).
 *
 * # Credentials and environment
 *
 * `NATS_SERVER_URL` (required): `nats://host:4222`, or several comma-separated. As with nats.go,
 * user info in it is used for authentication — `nats://user:password@host:4222` (user and
 * password) or `nats://token@host:4222` (a token) — and is hidden in errors and logs. TLS is
 * negotiated when the server requires it (the system's trusted CAs). Opening fails at once with
 * a one-line error when the variable is unset (`invalid`) or no server answers (`unavailable`;
 * `permission` for rejected credentials). Afterwards the client reconnects without limit;
 * `check()` fails while it is disconnected.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { NatsCoreReader, NatsCoreWriter } from "./nats_core.ts";
import { type JetStreamWriter, openJetStreamWriter } from "./nats_jetstream.ts";
import { type JetStreamReader, openJetStreamReader } from "./nats_jetstream_reader.ts";
import { BusError } from "../../core/event_bus.ts";
import { messageLine } from "../../core/public_error.ts";
import {
  connectNats,
  type NatsBusOptions,
  natsErrorKind,
  type NatsLink,
  type NatsSettings,
  natsSettings,
  WHAT,
} from "./nats_common.ts";

export { type NatsBusOptions, natsErrorKind, type NatsSettings, natsSettings } from "./nats_common.ts";
export { NatsCoreReader, NatsCoreWriter } from "./nats_core.ts";
export { JetStreamWriter, subjectMatches } from "./nats_jetstream.ts";
export { JetStreamReader } from "./nats_jetstream_reader.ts";

const log = getLogger(["autopgo", "bus"]);

function warnAtMostOnce(settings: NatsSettings, side: string): void {
  log.warn(
    "nats://{subject} ({side}): plain NATS is at-most-once: events published while no worker is subscribed are " +
      "dropped, and the worker's reconcile sweep merges their staged uploads later; add jetstream=true for " +
      "at-least-once delivery",
    { subject: settings.subject, side },
  );
}

async function withLink<T>(
  url: URL | string,
  options: NatsBusOptions,
  role: string,
  open: (link: NatsLink, settings: NatsSettings) => Promise<T>,
): Promise<T> {
  const settings = natsSettings(typeof url === "string" ? new URL(url) : url);
  const link = await connectNats(options, role);
  try {
    return await open(link, settings);
  } catch (error) {
    await link.nc.close().catch(() => {});
    if (error instanceof BusError) throw error;
    const hint = error instanceof Error && error.name === "JetStreamNotEnabled" ? " (start nats-server with -js)" : "";
    const where = settings.jetstream ? `stream ${settings.streamName}` : `subject ${settings.subject}`;
    const message = `${WHAT}: open ${where} on ${link.servers}: ${messageLine(error)}${hint}`;
    throw new BusError(natsErrorKind(error), message, { cause: error });
  }
}

/** Opens a writer for `nats://subject?…` (see the module doc); connects to `NATS_SERVER_URL`. */
export function openNatsWriter(
  url: URL | string,
  options: NatsBusOptions = {},
): Promise<NatsCoreWriter | JetStreamWriter> {
  return withLink<NatsCoreWriter | JetStreamWriter>(url, options, "writer", async (link, settings) => {
    if (settings.jetstream) return await openJetStreamWriter(link, settings);
    warnAtMostOnce(settings, "writer");
    return new NatsCoreWriter(link, settings);
  });
}

/** Opens a reader for `nats://subject?…` (see the module doc); connects to `NATS_SERVER_URL`. */
export function openNatsReader(
  url: URL | string,
  options: NatsBusOptions = {},
): Promise<NatsCoreReader | JetStreamReader> {
  return withLink<NatsCoreReader | JetStreamReader>(url, options, "reader", async (link, settings) => {
    if (settings.jetstream) return await openJetStreamReader(link, settings);
    warnAtMostOnce(settings, "reader");
    const reader = new NatsCoreReader(link, settings);
    await reader.ready();
    return reader;
  });
}
