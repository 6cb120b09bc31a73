/**
 * Opening blob stores and event buses by URL (gocloud style): a driver registers an opener
 * for a URL scheme (`file`, `mem`, later `s3`, `gs`, `azblob`, `nats`, `kafka`…), and callers
 * open `scheme://…` URLs without knowing which driver serves them.
 *
 * Nothing is registered on import: the registries start empty and are filled only by calls
 * to the `register…` functions (normally `registerBuiltinDrivers()` from `adapters/mod.ts`,
 * called once by the command that needs storage). `core/` never imports a driver.
 *
 * @module
 */

import { type BlobDriver, Bucket, type BucketOptions } from "./blob_bucket.ts";
import { type BusDriverErrors, type BusWrapperOptions, Subscription, Topic } from "./event_bus.ts";
import type { EventReader, EventWriter } from "./events.ts";

/** Opens a resource for a parsed URL whose scheme the opener was registered for. */
export type UrlOpener<T> = (url: URL) => Promise<T>;

/** A blob driver as an opener returns it; {@link openBlobStore} wraps it in a {@link Bucket}. */
export type OpenedBlobDriver = BlobDriver;
/** A writer driver as an opener returns it; {@link openEventWriter} wraps it in a {@link Topic}. */
export type OpenedEventWriter = EventWriter & BusDriverErrors;
/** A reader driver as an opener returns it; {@link openEventReader} wraps it in a {@link Subscription}. */
export type OpenedEventReader = EventReader & BusDriverErrors;
/** Opens the blob driver a URL names (e.g. `file:///var/lib/autopgo`). */
export type BlobOpener = UrlOpener<OpenedBlobDriver>;
/** Opens a topic writer driver for a URL (e.g. `mem://profiles`). */
export type EventWriterOpener = UrlOpener<OpenedEventWriter>;
/** Opens a subscription reader driver for a URL (e.g. `mem://profiles`). */
export type EventReaderOpener = UrlOpener<OpenedEventReader>;

const SCHEME = /^[a-z][a-z0-9+.-]*$/;

/**
 * Hides secrets in a URL before it appears in an error or a log line: the password of the
 * user-info part and the values of query parameters that look like credentials.
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.password) url.password = "xxxxx";
  for (const name of [...url.searchParams.keys()]) {
    if (/key|secret|token|password|credential|sas|sig/i.test(name)) url.searchParams.set(name, "xxxxx");
  }
  return url.href;
}

/**
 * A map from URL scheme to opener for one kind of resource. The module keeps one instance
 * per kind; tests may create their own to stay isolated.
 */
export class SchemeRegistry<T> {
  readonly #kind: string;
  readonly #openers = new Map<string, UrlOpener<T>>();

  /** Creates an empty registry; `kind` names the resource in errors ("blob store"). */
  constructor(kind: string) {
    this.#kind = kind;
  }

  /**
   * Registers `opener` for `scheme` (lower case, without `:` — e.g. `"file"`). A later
   * registration for the same scheme replaces the earlier one, so registering twice is harmless.
   */
  register(scheme: string, opener: UrlOpener<T>): void {
    if (!SCHEME.test(scheme)) throw new Error(`invalid ${this.#kind} URL scheme ${JSON.stringify(scheme)}`);
    this.#openers.set(scheme, opener);
  }

  /** The registered schemes, sorted. */
  schemes(): string[] {
    return [...this.#openers.keys()].sort();
  }

  /**
   * Parses `text` and opens it with the driver of its scheme. Throws a one-line error for a
   * malformed URL or an unknown scheme (listing the known ones); driver errors pass through.
   */
  async open(text: string): Promise<T> {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(
        `invalid ${this.#kind} URL ${JSON.stringify(redactUrl(text))}: expected scheme://… (e.g. file:///abs/dir)`,
      );
    }
    // `file:relative` parses as file:///relative: a folder at the root, which nobody meant.
    if (url.protocol === "file:" && !/^file:\/\//i.test(text.trim())) {
      throw new Error(
        `invalid ${this.#kind} URL ${
          JSON.stringify(redactUrl(text))
        }: a file URL needs an absolute path, e.g. file:///var/lib/autopgo`,
      );
    }
    const scheme = url.protocol.slice(0, -1);
    const opener = this.#openers.get(scheme);
    if (!opener) {
      const known = this.schemes();
      throw new Error(
        `unknown ${this.#kind} URL scheme "${scheme}" in ${JSON.stringify(redactUrl(text))} (known schemes: ${
          known.length ? known.join(", ") : "none registered"
        })`,
      );
    }
    return await opener(url);
  }
}

/** The process-wide registry of blob drivers. */
export const blobDrivers: SchemeRegistry<OpenedBlobDriver> = new SchemeRegistry<OpenedBlobDriver>("blob store");
/** The process-wide registry of event writer drivers. */
export const eventWriterDrivers: SchemeRegistry<OpenedEventWriter> = new SchemeRegistry<OpenedEventWriter>(
  "event writer",
);
/** The process-wide registry of event reader drivers. */
export const eventReaderDrivers: SchemeRegistry<OpenedEventReader> = new SchemeRegistry<OpenedEventReader>(
  "event reader",
);

/** Registers a blob driver for `scheme` in the process-wide registry. */
export function registerBlobDriver(scheme: string, opener: BlobOpener): void {
  blobDrivers.register(scheme, opener);
}

/** Registers an event writer driver for `scheme` in the process-wide registry. */
export function registerEventWriterDriver(scheme: string, opener: EventWriterOpener): void {
  eventWriterDrivers.register(scheme, opener);
}

/** Registers an event reader driver for `scheme` in the process-wide registry. */
export function registerEventReaderDriver(scheme: string, opener: EventReaderOpener): void {
  eventReaderDrivers.register(scheme, opener);
}

/**
 * Opens the blob store named by `url` (e.g. `file:///var/lib/autopgo`, `mem://test`) as a portable
 * {@link Bucket}; `options` reach the wrapper (retries, the metrics `observe` hook).
 */
export async function openBlobStore(url: string, options?: BucketOptions): Promise<Bucket> {
  return new Bucket(await blobDrivers.open(url), options);
}

/** Opens a writer for the topic named by `url` (e.g. `mem://profiles`, `file:///var/lib/autopgo-bus`). */
export async function openEventWriter(url: string, options?: BusWrapperOptions): Promise<Topic> {
  return new Topic(await eventWriterDrivers.open(url), options);
}

/** Opens a reader of the subscription named by `url`. */
export async function openEventReader(url: string, options?: BusWrapperOptions): Promise<Subscription> {
  return new Subscription(await eventReaderDrivers.open(url), options);
}
