import assert from "node:assert/strict";
import { sdkExports } from "./sdk_exports.ts";

Deno.test("sdkExports keeps a namespace with named exports and unwraps a lone CommonJS default", () => {
  class PubSub {}
  const named = { PubSub, default: { PubSub } };
  assert.equal(sdkExports(named), named);
  const bundled = { default: { PubSub } } as unknown as { PubSub: typeof PubSub };
  assert.equal(sdkExports(bundled).PubSub, PubSub);
  const onlyDefaultFunction = { default: () => 1 };
  assert.equal(sdkExports(onlyDefaultFunction), onlyDefaultFunction, "a default function is an ES default export");
});
