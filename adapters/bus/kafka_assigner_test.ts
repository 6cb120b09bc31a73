/**
 * The kafka reader's `range` partition assignor without a broker: the range arithmetic, the
 * member metadata it sends (checked byte by byte against the consumer protocol's layout), the
 * assignment it computes as group leader for members that subscribe like sarama (version 0,
 * null user data) and like the Java client (version 1, with owned partitions), and its
 * assignment bytes read back with an independent decoder. Groups on a real broker:
 * `kafka_bus_test.ts` (our readers) and `tests/interop_gocloud_test.ts` (with sarama's).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Cluster, GroupMember, Logger } from "kafkajs";
import { RANGE_PROTOCOL, rangeAssign, rangeAssigner } from "./kafka_assigner.ts";

/** A minimal consumer-protocol writer, independent of kafkajs' encoder. */
class Wire {
  readonly bytes: number[] = [];
  int16(v: number): this {
    this.bytes.push((v >> 8) & 0xff, v & 0xff);
    return this;
  }
  int32(v: number): this {
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  string(s: string): this {
    const data = new TextEncoder().encode(s);
    this.int16(data.length).bytes.push(...data);
    return this;
  }
  buffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

/** sarama's ConsumerGroupMemberMetadata v0 for `topics`, user data nil (length -1). */
function saramaMetadata(topics: string[]): Buffer {
  const wire = new Wire().int16(0).int32(topics.length);
  for (const topic of topics) wire.string(topic);
  return wire.int32(-1).buffer();
}

/** The Java client's ConsumerProtocolSubscription v1: v0 plus owned partitions (here: topic → [0]). */
function javaMetadataV1(topics: string[]): Buffer {
  const wire = new Wire().int16(1).int32(topics.length);
  for (const topic of topics) wire.string(topic);
  wire.int32(0).int32(topics.length);
  for (const topic of topics) wire.string(topic).int32(1).int32(0);
  return wire.buffer();
}

/** Reads a consumer-protocol assignment (version, topic → partitions, user data length). */
function readAssignment(data: Buffer): { version: number; topics: Record<string, number[]>; userData: number } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  const int16 = () => (at += 2, view.getInt16(at - 2));
  const int32 = () => (at += 4, view.getInt32(at - 4));
  const string = () => {
    const length = int16();
    at += length;
    return new TextDecoder().decode(data.subarray(at - length, at));
  };
  const version = int16();
  const topics: Record<string, number[]> = {};
  for (let t = int32(); t > 0; t--) {
    const topic = string();
    topics[topic] = Array.from({ length: int32() }, () => int32());
  }
  const userData = int32();
  assert.equal(at + Math.max(0, userData), data.length, "trailing bytes");
  return { version, topics, userData };
}

const silent = { info() {}, warn() {}, error() {}, debug() {}, namespace: () => silent, setLogLevel() {} };

function leader(partitions: Record<string, number>) {
  const cluster = {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: partitions[topic] ?? 0 }, (_, partitionId) => ({ partitionId })),
  } as unknown as Cluster;
  return rangeAssigner({ cluster, groupId: "g", logger: silent as unknown as Logger });
}

Deno.test("kafka range assignor: consecutive blocks per topic, members sorted by id, the first ones take the rest", () => {
  const plan = (members: string[], partitions: number[]) => Object.fromEntries(rangeAssign(members, partitions));
  assert.deepEqual(plan(["b", "a"], [3, 2, 1, 0]), { a: [0, 1], b: [2, 3] });
  assert.deepEqual(plan(["m1", "m2", "m3"], [0, 1, 2, 3, 4, 5, 6]), { m1: [0, 1, 2], m2: [3, 4], m3: [5, 6] });
  assert.deepEqual(plan(["z", "y", "x"], [0, 1]), { x: [0], y: [1] }, "more members than partitions");
  assert.deepEqual(plan(["only"], [5, 1]), { only: [1, 5] });
  assert.deepEqual(plan([], [0, 1]), {});
});

Deno.test("kafka range assignor: joins as protocol range with version-0 subscription metadata", () => {
  const state = leader({}).protocol({ topics: ["profiles"] });
  assert.equal(state.name, RANGE_PROTOCOL);
  assert.equal(RANGE_PROTOCOL, "range", "sarama's and the Java client's name");
  // version 0, one topic "profiles", empty user data
  assert.deepEqual([...state.metadata], [...new Wire().int16(0).int32(1).string("profiles").int32(0).buffer()]);
});

Deno.test("kafka range assignor: as leader it assigns sarama and Java members, each readable by the consumer protocol", async () => {
  const assigner = leader({ profiles: 4, other: 2 });
  const members: GroupMember[] = [
    { memberId: "sarama-2b", memberMetadata: saramaMetadata(["profiles"]) },
    { memberId: "autopgo-7f", memberMetadata: assigner.protocol({ topics: ["profiles"] }).metadata },
    { memberId: "java-11", memberMetadata: javaMetadataV1(["other"]) },
  ];
  const result = await assigner.assign({ members, topics: ["profiles"] });
  const decoded = Object.fromEntries(result.map((r) => [r.memberId, readAssignment(r.memberAssignment)]));
  assert.deepEqual(decoded, {
    "autopgo-7f": { version: 0, topics: { profiles: [0, 1] }, userData: 0 },
    "sarama-2b": { version: 0, topics: { profiles: [2, 3] }, userData: 0 },
    // subscribed to another topic only: in the answer, with nothing (sarama and Java accept that)
    "java-11": { version: 0, topics: {}, userData: 0 },
  });
});

Deno.test("kafka range assignor: a member whose metadata cannot be decoded counts as subscribed", async () => {
  const assigner = leader({ profiles: 3 });
  const result = await assigner.assign({
    members: [
      { memberId: "a", memberMetadata: Buffer.from([0, 0, 0]) },
      { memberId: "b", memberMetadata: saramaMetadata(["profiles"]) },
    ],
    topics: ["profiles"],
  });
  assert.deepEqual(
    Object.fromEntries(result.map((r) => [r.memberId, readAssignment(r.memberAssignment).topics])),
    { a: { profiles: [0, 1] }, b: { profiles: [2] } },
  );
});
