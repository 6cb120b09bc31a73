/**
 * Child process of the bus conformance `kill -9` step: opens the reader URL given as its
 * argument, receives one message, prints `{"id","body"}` on one line and then waits, never
 * acking, until the parent kills it.
 *
 * @module
 */

import { registerBuiltinDrivers } from "../../adapters/mod.ts";
import { openEventReader } from "../../core/registry.ts";

registerBuiltinDrivers();
const reader = await openEventReader(Deno.args[0]);
const message = await reader.receive();
if (!message) Deno.exit(3);
console.log(JSON.stringify({ id: message.id, body: new TextDecoder().decode(message.body) }));
await new Promise(() => {});
