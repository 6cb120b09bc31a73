/** Tests of which buses make `autopgo worker` take the per-app merge lease (cmd/worker.ts `orderedPerApp`). */

import assert from "node:assert/strict";
import { orderedPerApp } from "./worker.ts";

Deno.test("orderedPerApp: file, mem and Kafka order an app's events; NATS, SQS, Pub/Sub and Service Bus do not", () => {
  for (
    const url of ["file:///var/bus?poll=10ms", "mem://events", "kafka://workers?topic=autopgo", "KAFKA://g?topic=t"]
  ) {
    assert.equal(orderedPerApp(url), true, url);
  }
  for (
    const url of [
      "nats://autopgo.profile?natsv2=true&jetstream=true&queue=worker",
      "awssqs://sqs.eu-west-1.amazonaws.com/123/queue",
      "gcppubsub://projects/p/subscriptions/s",
      "azuresb://topic?subscription=workers",
    ]
  ) assert.equal(orderedPerApp(url), false, url);
});
