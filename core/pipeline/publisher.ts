/**
 * Publishes the original autopgo events (`profile.uploaded`, `profile.merged`,
 * `profile.deleted`) in the original JSON envelope, with the app name as ordering key.
 *
 * @module
 */

import {
  encodeEnvelope,
  type EventType,
  type EventWriter,
  makeEnvelope,
  type ProfileDeletedPayload,
  type ProfileMergedPayload,
  type ProfileUploadedPayload,
} from "../events.ts";

/** Payload type of each event type. */
export interface PayloadOf {
  "profile.uploaded": ProfileUploadedPayload;
  "profile.merged": ProfileMergedPayload;
  "profile.deleted": ProfileDeletedPayload;
}

/** Sends typed events. */
export interface EventPublisher {
  /**
   * Wraps `payload` in an envelope stamped `at` (default: the clock's now) and sends it with
   * `payload.app` as ordering key.
   */
  publish<T extends EventType>(type: T, payload: PayloadOf[T], signal?: AbortSignal, at?: Date): Promise<void>;
}

/** Injected sources of envelope ids and timestamps. */
export interface PublisherDeps {
  writer: EventWriter;
  clock: () => Date;
  /** UUID v4 generator for envelope ids. */
  newEventId: () => string;
}

/** Creates a publisher over `deps.writer`. */
export function eventPublisher(deps: PublisherDeps): EventPublisher {
  return {
    async publish(type, payload, signal, at) {
      const envelope = makeEnvelope(type, payload, deps.newEventId(), at ?? deps.clock());
      await deps.writer.send({ body: encodeEnvelope(envelope), orderingKey: payload.app }, signal);
    },
  };
}
