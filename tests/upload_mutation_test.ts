/**
 * Issue 15, the mutation run against a running server (tests/support/upload_mutations.ts), as a
 * seeded sample of 3,000 mutated uploads so `deno task test` stays quick on 2 cores; `deno task
 * mutate` runs the full 20,000. No 5xx, the real profiles all merge, nothing is left in staging,
 * and the count of set-aside uploads equals the count of 201s that were not merged: zero.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mutationRunProblems, runUploadMutations } from "./support/upload_mutations.ts";

Deno.test("upload mutation run (seeded, 3000 mutants then the real profiles): no 5xx, every 201 merged, nothing set aside", async () => {
  const report = await runUploadMutations({ seed: 15, uploads: 3_000 });
  console.log(
    `mutations: ${report.uploads} + ${report.real} real in ${report.sendSeconds.toFixed(1)} s + ${
      report.drainSeconds.toFixed(1)
    } s drain`,
    report.statuses,
    { accepted: report.accepted, merged: report.merged, setAside: report.setAside, variants: report.variants },
  );
  assert.deepEqual(mutationRunProblems(report), []);
  assert.equal(report.realAccepted, report.real);
  assert.ok(report.accepted > report.real, "some mutants were accepted and merged too");
  assert.ok((report.statuses[422] ?? 0) > 0 && (report.statuses[400] ?? 0) > 0, "mutants were refused at the door");
});
