/**
 * The shared cloud blob suite (tests/support/cloud_blob_suite.ts) against a real MinIO through
 * the s3:// driver: processes racing compare-and-swap writes, listings past one page, a 50 MiB
 * object, wrong credentials, and a worker that keeps merging while MinIO is stopped and
 * restarted on the same port and data directory.
 *
 * @module
 */

import { cloudBlobSuite } from "./support/cloud_blob_suite.ts";
import { minioBinary, startMinio } from "./support/services/minio.ts";
import { serviceSkip } from "./support/services/service.ts";

cloudBlobSuite("s3 (MinIO)", {
  skip: serviceSkip("minio", minioBinary() !== undefined, "needed for the s3:// cloud suite"),
  async start() {
    const minio = await startMinio();
    return {
      url: (bucket) => minio.url(bucket),
      env: minio.env,
      createBucket: (bucket) => minio.createBucket(bucket),
      async restart(downtimeMs) {
        await minio.halt();
        await new Promise((resolve) => setTimeout(resolve, downtimeMs));
        await minio.start();
      },
      wrongCredentials: (bucket) => ({ url: minio.url(bucket), env: { AWS_SECRET_ACCESS_KEY: "not-the-secret" } }),
      stop: () => minio.stop(),
    };
  },
});
