/**
 * The consumer-group partition assignor of the `kafka://` reader: the standard **range**
 * strategy under the protocol name the Java client and sarama (the original autopgo's gocloud
 * `kafkapubsub`) use, `range`, with the standard consumer-protocol encodings (kafkajs'
 * `AssignerProtocol`: member metadata version 0 = subscribed topics + user data; assignment
 * version 0 = partitions per topic + user data).
 *
 * Kafka lets members join one group only when they share a protocol, and whichever member leads
 * the group computes everyone's assignment with it. kafkajs' default, `RoundRobinAssigner`, is
 * offered by no other client, so sarama's members ("range" only) were rejected from a group of
 * ours ("inconsistent group protocol"). With `range` a group can hold both (a rolling migration
 * from the original's workers): a leader of either kind decodes the other's subscription and
 * the other decodes its assignment.
 *
 * Range, per topic: the members subscribed to it, sorted by member id, take consecutive blocks
 * of its partitions (sorted by id); with P partitions and C members each takes ⌊P/C⌋, and the
 * first P mod C one more.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  type Assigner,
  AssignerProtocol,
  type GroupMember,
  type GroupMemberAssignment,
  type PartitionAssigner,
} from "kafkajs";

/** The group protocol name of {@link rangeAssigner} (sarama's `RangeBalanceStrategyName`, Java's `RangeAssignor`). */
export const RANGE_PROTOCOL = "range";
/** The consumer-protocol version this assignor writes (0: topics and user data only). */
const VERSION = 0;

/**
 * Assigns `partitions` of one topic to `members` (ids of the members subscribed to it) with the
 * range strategy: member id → its partitions, ascending; members without partitions are absent.
 */
export function rangeAssign(members: readonly string[], partitions: readonly number[]): Map<string, number[]> {
  const result = new Map<string, number[]>();
  if (members.length === 0) return result;
  const ids = [...members].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sorted = [...partitions].sort((a, b) => a - b);
  const each = Math.floor(sorted.length / ids.length);
  const extra = sorted.length % ids.length;
  ids.forEach((id, i) => {
    const start = i * each + Math.min(i, extra);
    const taken = sorted.slice(start, start + each + (i < extra ? 1 : 0));
    if (taken.length > 0) result.set(id, taken);
  });
  return result;
}

/** The topics `member` subscribed to, or `undefined` when its metadata cannot be decoded. */
function subscription(member: GroupMember): string[] | undefined {
  try {
    return AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.topics;
  } catch {
    return undefined;
  }
}

/**
 * A kafkajs partition assigner implementing {@link rangeAssign} as protocol `range`. When it
 * leads the group it assigns the partitions of the topics it subscribed to among the members
 * subscribed to each (a member whose metadata it cannot decode counts as subscribed to them
 * all); every member gets an assignment, empty when it has no partition.
 */
export const rangeAssigner: PartitionAssigner = ({ cluster, logger }): Assigner => ({
  name: RANGE_PROTOCOL,
  version: VERSION,
  assign({ members, topics }): Promise<GroupMemberAssignment[]> {
    const plan = new Map<string, Record<string, number[]>>(members.map((m) => [m.memberId, {}]));
    const subscriptions = new Map(members.map((m) => [m.memberId, subscription(m)]));
    for (const [memberId, topicsOfMember] of subscriptions) {
      if (!topicsOfMember) logger.warn("Undecodable member metadata; assuming the group's topics", { memberId });
    }
    for (const topic of topics) {
      const subscribed = members.map((m) => m.memberId)
        .filter((id) => subscriptions.get(id)?.includes(topic) ?? true);
      const partitions = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
      for (const [memberId, assigned] of rangeAssign(subscribed, partitions)) plan.get(memberId)![topic] = assigned;
    }
    return Promise.resolve(
      [...plan].map(([memberId, assignment]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment,
          userData: Buffer.alloc(0),
        }),
      })),
    );
  },
  protocol({ topics }) {
    return {
      name: RANGE_PROTOCOL,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData: Buffer.alloc(0) }),
    };
  },
});
