/**
 * The built-in drivers and how to register them. Importing this module has no side effects;
 * a command that needs storage calls {@link registerBuiltinDrivers} once, then opens URLs
 * with `openBlobStore` / `openEventWriter` / `openEventReader` from `core/registry.ts`.
 *
 * Built in now:
 * - blob: `file:///abs/dir` ({@link openFileBlobStore}), `mem://name` ({@link openMemBlobStore});
 * - events: `mem://topic` (in-process), `file:///abs/dir` (several processes on one machine).
 *
 * Cloud drivers (s3, gs, azblob, nats, kafka, awssqs, gcppubsub, azuresb) are added here the
 * same way, with openers that load their SDK lazily so a process that never opens such a URL
 * never loads it:
 * `registerBlobDriver("s3", async (url) => (await import("./s3_blob.ts")).openS3BlobStore(url));`
 *
 * @module
 */

import {
  registerBlobDriver,
  registerEventReaderDriver,
  registerEventWriterDriver,
  type SchemeRegistry,
} from "../core/registry.ts";
import type { BlobStore } from "../core/blob.ts";
import type { EventReader, EventWriter } from "../core/events.ts";
import { openFileBlobStore } from "./blob/file_blob.ts";
import { openFileEventReader, openFileEventWriter } from "./bus/file_bus.ts";
import { openMemBlobStore } from "./blob/mem_blob.ts";
import { openMemEventReader, openMemEventWriter } from "./bus/mem_bus.ts";

export { fileUrlFromPath } from "./driver_url.ts";
export { FileBlobStore, openFileBlobStore } from "./blob/file_blob.ts";
export { FileEventReader, FileEventWriter, openFileEventReader, openFileEventWriter } from "./bus/file_bus.ts";
export { MemBlobStore, openMemBlobStore } from "./blob/mem_blob.ts";
export { MemEventReader, MemEventWriter, openMemEventReader, openMemEventWriter } from "./bus/mem_bus.ts";
export { type Clock, ManualClock, systemClock } from "./clock.ts";

/** Explicit registries to fill instead of the process-wide ones (tests). */
export interface DriverRegistries {
  /** Receives the blob drivers. */
  blob: SchemeRegistry<BlobStore>;
  /** Receives the event writer drivers. */
  eventWriter: SchemeRegistry<EventWriter>;
  /** Receives the event reader drivers. */
  eventReader: SchemeRegistry<EventReader>;
}

/**
 * Registers the `file` and `mem` drivers for blobs and events, in the process-wide registries
 * or in `registries` when given. Calling it again is harmless.
 */
export function registerBuiltinDrivers(registries?: DriverRegistries): void {
  const blob = registries ? registries.blob.register.bind(registries.blob) : registerBlobDriver;
  const writer = registries ? registries.eventWriter.register.bind(registries.eventWriter) : registerEventWriterDriver;
  const reader = registries ? registries.eventReader.register.bind(registries.eventReader) : registerEventReaderDriver;
  blob("file", (url) => openFileBlobStore(url));
  blob("mem", (url) => openMemBlobStore(url));
  blob("s3", async (url) => (await import("./blob/s3_blob.ts")).openS3Blob(url));
  blob("gs", async (url) => (await import("./blob/gcs_blob.ts")).openGcsBlob(url));
  blob("azblob", async (url) => (await import("./blob/azure_blob.ts")).openAzureBlob(url));
  writer("mem", (url) => openMemEventWriter(url));
  reader("mem", (url) => openMemEventReader(url));
  writer("file", (url) => openFileEventWriter(url));
  reader("file", (url) => openFileEventReader(url));
  writer("awssqs", async (url) => (await import("./bus/aws_sqs.ts")).openSqsWriter(url));
  reader("awssqs", async (url) => (await import("./bus/aws_sqs.ts")).openSqsReader(url));
  writer("awssns", async (url) => (await import("./bus/aws_sns.ts")).openSnsWriter(url));
  writer("gcppubsub", async (url) => (await import("./bus/gcp_pubsub.ts")).openPubSubWriter(url));
  reader("gcppubsub", async (url) => (await import("./bus/gcp_pubsub.ts")).openPubSubReader(url));
  writer("azuresb", async (url) => (await import("./bus/azure_servicebus.ts")).openAzureSbWriter(url));
  reader("azuresb", async (url) => (await import("./bus/azure_servicebus.ts")).openAzureSbReader(url));
  writer("nats", async (url) => (await import("./bus/nats_bus.ts")).openNatsWriter(url));
  reader("nats", async (url) => (await import("./bus/nats_bus.ts")).openNatsReader(url));
  writer("kafka", async (url) => (await import("./bus/kafka_bus.ts")).openKafkaEventWriter(url));
  reader("kafka", async (url) => (await import("./bus/kafka_bus.ts")).openKafkaEventReader(url));
}
