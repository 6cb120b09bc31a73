/**
 * Tests of the machine's idle CPU (idle_cpu.ts): `/proc/stat`'s cpu line read as idle + iowait
 * over the total, in cores, over windows of at least a second; unknown without counters.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IdleCpu, parseProcStat } from "./idle_cpu.ts";

const stat = (idle: number, busy: number) => `cpu  ${busy} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\nintr 5\n`;

Deno.test("idle cpu: parses the cpu line (idle + iowait of user … steal)", () => {
  assert.deepEqual(parseProcStat("cpu  10 1 5 100 4 1 1 2 7 0\ncpu0 1 1 1 1 1\n"), { idle: 104, total: 124 });
  assert.equal(parseProcStat("intr 1 2 3\n"), undefined);
  assert.equal(parseProcStat("cpu  1 2 x 4 5\n"), undefined);
  assert.ok(
    (parseProcStat(Deno.build.os === "linux" ? Deno.readTextFileSync("/proc/stat") : stat(1, 1))?.total ?? 0) > 0,
  );
});

Deno.test("idle cpu: cores idle over each whole window; undefined before the first and without counters", () => {
  let now = 0, text: string | undefined = stat(0, 0);
  const idle = new IdleCpu(() => text, () => now, 2, 1_000);
  assert.equal(idle.cores(), undefined, "no window yet");
  now = 500;
  text = stat(50, 50);
  assert.equal(idle.cores(), undefined, "half a window");
  now = 1_000;
  text = stat(150, 50); // 150 idle of 200 ticks on 2 cores
  assert.equal(idle.cores(), 1.5);
  now = 1_400;
  text = stat(150, 250);
  assert.equal(idle.cores(), 1.5, "kept until the next window ends");
  now = 2_000;
  text = stat(160, 440); // 10 idle of 400 ticks since the last window
  assert.equal(idle.cores(), 0.05);
  text = undefined;
  assert.equal(idle.cores(), undefined, "counters gone");
});
