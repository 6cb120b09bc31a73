/**
 * Portable event bus: the interfaces every driver (mem://, later nats://, kafka://,
 * awssqs://, gcppubsub://, azuresb://) implements, plus the original autopgo's JSON
 * event envelope and payloads (wire-compatible).
 *
 * Delivery is at-least-once: a message that is nacked, or never acked before its
 * deadline, comes back (with `deliveryAttempt` increased). Messages carry an ordering key
 * (the app name) that drivers map to partition keys / ordering keys / message groups.
 *
 * @module
 */

/** Event types of the original autopgo. */
export const EVENT_TYPES = ["profile.uploaded", "profile.merged", "profile.deleted"] as const;
/** One of {@link EVENT_TYPES}. */
export type EventType = typeof EVENT_TYPES[number];

/** Payload of `profile.uploaded`: a staged upload waiting to be merged. */
export interface ProfileUploadedPayload {
  app: string;
  profileKey: string;
}

/** Payload of `profile.merged`: the staged upload is in the base and may be deleted. */
export interface ProfileMergedPayload {
  app: string;
  profileKey: string;
  mergedKey: string;
}

/** Payload of `profile.deleted`: request to delete everything stored for an app. */
export interface ProfileDeletedPayload {
  app: string;
}

/** The JSON envelope every event is wrapped in (original field names). */
export interface Envelope<P = unknown> {
  /** UUID v4. */
  id: string;
  /** RFC 3339 timestamp (UTC) of publication. */
  timestamp: string;
  type: string;
  payload: P;
}

/** A message to publish. */
export interface OutgoingMessage {
  body: Uint8Array;
  /** Messages with the same key are delivered in publication order where the bus supports it (the app name). */
  orderingKey?: string;
}

/** A received message. Exactly one of `ack`/`nack` should be called. */
export interface IncomingMessage {
  body: Uint8Array;
  /** Bus-assigned message id (for logs and de-duplication). */
  id: string;
  orderingKey?: string;
  /** 1 on first delivery, increased on each redelivery. */
  deliveryAttempt: number;
  /** Marks the message done; it will not be delivered again. */
  ack(): Promise<void>;
  /** Returns the message for redelivery after `delayMs` (default: the driver's backoff). */
  nack(delayMs?: number): Promise<void>;
  /**
   * Tells the bus the message is still being worked on, pushing its ack deadline back
   * (JetStream `+WPI`, SQS visibility, Pub/Sub modifyAckDeadline). Absent where the bus has no
   * such notion; the portable {@link Subscription} layer calls it while a handler runs.
   */
  inProgress?(): Promise<void>;
}

/** Publishes messages to a topic. */
export interface EventWriter {
  /** Resolves once the bus has durably accepted the message. */
  send(message: OutgoingMessage, signal?: AbortSignal): Promise<void>;
  /** Health check. */
  check(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** Consumes messages from a subscription. */
export interface EventReader {
  /**
   * How often a held message's {@link IncomingMessage.inProgress} should be called so that it is
   * not redelivered while its handler runs (about a third of the ack deadline). Absent: never.
   */
  readonly renewIntervalMs?: number;
  /** Waits for the next message; resolves `undefined` when `signal` aborts or the reader is closed. */
  receive(signal?: AbortSignal): Promise<IncomingMessage | undefined>;
  /** Health check. */
  check(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** The envelope or payload of a message is not what autopgo publishes (a poison message). */
export class EventFormatError extends Error {
  /** Creates the error with a one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "EventFormatError";
  }
}

/** Builds an envelope; `id` and `now` are injected for determinism. */
export function makeEnvelope<P>(type: EventType, payload: P, id: string, now: Date): Envelope<P> {
  return { id, timestamp: now.toISOString(), type, payload };
}

/** Encodes an envelope as the JSON message body. */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(envelope));
}

/**
 * The largest event read: autopgo's own are a few hundred bytes, and parsing a 50 MB one (a bus
 * anybody can write to) took the worker to 482 MiB.
 */
export const MAX_ENVELOPE_BYTES = 64 * 1024;

/** Parses and checks an envelope's shape; throws {@link EventFormatError} on anything else. */
export function decodeEnvelope(body: Uint8Array): Envelope {
  if (body.byteLength > MAX_ENVELOPE_BYTES) {
    throw new EventFormatError(`event of ${body.byteLength} bytes is larger than ${MAX_ENVELOPE_BYTES}: not read`);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (e) {
    throw new EventFormatError(`event is not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EventFormatError("event envelope is not a JSON object");
  }
  const v = value as Record<string, unknown>;
  for (const field of ["id", "timestamp", "type"] as const) {
    if (typeof v[field] !== "string") throw new EventFormatError(`event envelope field "${field}" is not a string`);
  }
  if (typeof v.payload !== "object" || v.payload === null || Array.isArray(v.payload)) {
    throw new EventFormatError(`event envelope field "payload" is not a JSON object`);
  }
  return v as unknown as Envelope;
}
