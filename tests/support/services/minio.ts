/**
 * MinIO for the s3:// blob tests: `minio server DIR` on a free 127.0.0.1 port, ready once
 * `/minio/health/live` and `/minio/health/ready` answer. The returned handle can stop the server and start it again on
 * the same port with the same data directory (the outage test), create buckets, and give the
 * `s3://` URL and credentials that reach it.
 *
 * @module
 */

import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { cachedBinary, freePort, httpAnswers, launch, type LaunchedProcess, serviceDataDir } from "./service.ts";

/** The root user every test MinIO runs with. */
export const MINIO_USER = "autopgo-test";
/** The root password every test MinIO runs with. */
export const MINIO_PASSWORD = "autopgo-test-secret";

/** The cached `minio` binary, if `.ci/install-services.sh minio` built it. */
export function minioBinary(): string | undefined {
  return cachedBinary("minio");
}

/** A running MinIO server. */
export interface MinioServer {
  /** `http://127.0.0.1:PORT`, the S3 API endpoint. */
  readonly endpoint: string;
  /** The AWS_* environment that grants root access (credentials and region). */
  readonly env: Record<string, string>;
  /** `s3://bucket?endpoint=…&use_path_style=true&disable_https=true`, plus `extra` parameters. */
  url(bucket: string, extra?: Record<string, string>): string;
  /** Creates an empty bucket. */
  createBucket(bucket: string): Promise<void>;
  /** Stops the server (SIGTERM); its port and data stay reserved for {@link MinioServer.start}. */
  halt(): Promise<void>;
  /** Starts the server again on the same port with the same data (after {@link MinioServer.halt}). */
  start(): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
  /** The server's last log lines. */
  logs(): string;
}

/** Starts MinIO with a fresh data directory; throws if the binary is missing or it does not start. */
export async function startMinio(): Promise<MinioServer> {
  const binary = minioBinary();
  if (!binary) throw new Error("minio is not installed: run .ci/install-services.sh minio");
  const data = await serviceDataDir("minio");
  const port = freePort();
  const consolePort = freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const spawn = () =>
    launch({
      name: "minio",
      command: binary,
      args: ["server", data.path, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`],
      env: {
        MINIO_ROOT_USER: MINIO_USER,
        MINIO_ROOT_PASSWORD: MINIO_PASSWORD,
        MINIO_BROWSER: "off",
        HOME: data.path,
      },
      // live: the HTTP server answers; ready: the object layer can serve requests (a request
      // between the two gets 503 "server not initialized").
      ready: async () =>
        await httpAnswers(`${endpoint}/minio/health/live`) && await httpAnswers(`${endpoint}/minio/health/ready`),
    });
  let process: LaunchedProcess | undefined = await spawn();
  const env = { AWS_ACCESS_KEY_ID: MINIO_USER, AWS_SECRET_ACCESS_KEY: MINIO_PASSWORD, AWS_REGION: "us-east-1" };
  let admin: S3Client | undefined;
  const adminClient = () =>
    admin ??= new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: MINIO_USER, secretAccessKey: MINIO_PASSWORD },
    });
  return {
    endpoint,
    env,
    url(bucket, extra = {}) {
      const params = new URLSearchParams({ endpoint, use_path_style: "true", disable_https: "true", ...extra });
      return `s3://${bucket}?${params}`;
    },
    async createBucket(bucket) {
      await adminClient().send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async halt() {
      await process?.stop();
      process = undefined;
    },
    async start() {
      if (process) throw new Error("minio is already running");
      process = await spawn();
    },
    async stop() {
      admin?.destroy();
      await process?.stop();
      process = undefined;
      await data.remove();
    },
    logs: () => process?.logs() ?? "",
  };
}
