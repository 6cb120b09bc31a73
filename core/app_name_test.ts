/**
 * The application-name rule: a DNS label (RFC 1123), as Kubernetes labels and blob keys need.
 *
 * @module
 */

import assert from "node:assert/strict";
import { appNameProblem, isValidAppName } from "./app_name.ts";

Deno.test("appNameProblem: DNS labels pass", () => {
  for (const name of ["a", "0", "my-app", "a1-b2-c3", "x".repeat(63), "9lives"]) {
    assert.equal(appNameProblem(name), undefined, name);
  }
});

Deno.test("appNameProblem: hyphens at either end, bad characters, empty and long names are refused", () => {
  for (const name of ["-", "--", "-app", "app-", "-a-"]) {
    assert.match(appNameProblem(name) ?? "", /must start and end with a letter or digit/, name);
    assert.equal(isValidAppName(name), false);
  }
  assert.match(appNameProblem("My_App") ?? "", /may only contain/);
  assert.match(appNameProblem("") ?? "", /must not be empty/);
  assert.match(appNameProblem("x".repeat(64)) ?? "", /at most 63/);
});
