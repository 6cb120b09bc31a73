/**
 * Precondition checks shared by blob drivers that evaluate conditions themselves (file://,
 * mem://). Cloud drivers pass the conditions to the service instead and map its 412s.
 *
 * @module
 */

import { PreconditionFailedError, type WriteConditions } from "../../core/blob.ts";

/** Throws when both conditions are set (they contradict each other). */
export function checkConditions(conditions: WriteConditions): void {
  if (conditions.ifAbsent && conditions.ifVersion !== undefined) {
    throw new Error("blob write: ifAbsent and ifVersion cannot be combined");
  }
}

/** Throws {@link PreconditionFailedError} when `conditions` do not hold for the current version. */
export function assertPrecondition(
  key: string,
  current: { version: string } | undefined,
  conditions: WriteConditions,
): void {
  if (conditions.ifAbsent && current) throw new PreconditionFailedError(key, "object already exists");
  if (conditions.ifVersion !== undefined) {
    if (!current) {
      throw new PreconditionFailedError(key, `object does not exist (wanted version ${conditions.ifVersion})`);
    }
    if (current.version !== conditions.ifVersion) {
      throw new PreconditionFailedError(key, `version is ${current.version}, wanted ${conditions.ifVersion}`);
    }
  }
}
