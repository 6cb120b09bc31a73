/** Tests of which buses make `autopgo worker` take the per-app merge lease (cmd/worker.ts `appEventsShared`). */

import assert from "node:assert/strict";
import { appEventsShared } from "./worker.ts";

Deno.test("appEventsShared: mem (one process) and Kafka (one reader per partition) take no lease; the rest do", () => {
  for (const url of ["mem://events", "kafka://workers?topic=autopgo", "KAFKA://g?topic=t"]) {
    assert.equal(appEventsShared(url), false, url);
  }
  for (
    const url of [
      "file:///var/bus?poll=10ms",
      "nats://autopgo.profile?natsv2=true&jetstream=true&queue=worker",
      "awssqs://sqs.eu-west-1.amazonaws.com/123/queue",
      "gcppubsub://projects/p/subscriptions/s",
      "azuresb://topic?subscription=workers",
    ]
  ) assert.equal(appEventsShared(url), true, url);
});
