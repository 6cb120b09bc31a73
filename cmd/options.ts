/**
 * Shared CLI option builders: every option that the original autopgo reads from an
 * AUTOPGO_* environment variable gets the same fallback here via commander's `Option.env()`.
 *
 * @module
 */

import { type Command, Help, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../core/duration.ts";
import { appNameProblem } from "../core/app_name.ts";
import { CliError } from "./cli_error.ts";

/** An option with an `AUTOPGO_<NAME>` env fallback, e.g. `envOption("-u, --api-url <url>", "…", "API_URL")`. */
export function envOption(flags: string, description: string, envSuffix: string): Option {
  return new Option(flags, description).env(`AUTOPGO_${envSuffix}`);
}

/** The component-specific name of a shared variable: `("server", "AUTOPGO_PORT")` → `AUTOPGO_SERVER_PORT`. */
export function componentEnvName(component: string, shared: string): string {
  return `AUTOPGO_${component.toUpperCase()}_${shared.slice("AUTOPGO_".length)}`;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: flags only
  }
}

/**
 * Lets each option of a component command (`server`, `worker`, `scrape`) also be set through
 * `AUTOPGO_<COMPONENT>_<NAME>` (e.g. `AUTOPGO_SCRAPE_PORT`), which wins over the original's shared
 * `AUTOPGO_<NAME>`, so one host (or one environment file) can configure all three components. An
 * explicit flag still wins over both. The help shows both names. Call after the command's help
 * configuration is final.
 */
export function preferComponentEnv(command: Command, env: (name: string) => string | undefined = readEnv): void {
  const names = new Map<Option, [specific: string, shared: string]>();
  for (const option of command.options) {
    const shared = option.envVar;
    if (!shared?.startsWith("AUTOPGO_")) continue;
    const specific = componentEnvName(command.name(), shared);
    names.set(option, [specific, shared]);
    if (env(specific) !== undefined) option.envVar = specific;
    if (!option.required && !option.optional) {
      // A boolean flag: commander sets it for any value; take the value as Go's strconv.ParseBool does
      // (`AUTOPGO_NO_X=true` turns a `--no-x` flag's attribute `x` off).
      command.on(`optionEnv:${option.name()}`, () => {
        const value = envBool(option.envVar!, env(option.envVar!) ?? "");
        command.setOptionValueWithSource(option.attributeName(), option.negate ? !value : value, "env");
      });
    }
  }
  command.configureHelp({
    ...command.configureHelp(),
    optionDescription(this: Help, option: Option): string {
      const text = Help.prototype.optionDescription.call(this, option);
      const both = names.get(option);
      return both ? text.replace(`env: ${option.envVar}`, `env: ${both[0]} or ${both[1]}`) : text;
    },
  });
}

/** A boolean environment value as Go's `strconv.ParseBool` reads it (`1`, `t`, `true`, `0`, `f`, `FALSE`…). */
export function envBool(name: string, value: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False", ""].includes(value)) return false;
  throw new CliError(`${name}: expected true or false, got ${JSON.stringify(value)}`);
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host) ||
    /^::ffff:127\.\d+\.\d+\.\d+$/.test(host);
}

/** commander argParser for Go-style durations; returns milliseconds. */
export function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/**
 * The longest a timer may wait: Deno's (Node's) timers take at most 2^31 − 1 ms (24.8 days) and
 * fire after 1 ms beyond it, so a 30-day header timeout reset every connection at once.
 */
export const MAX_TIMER_MS = 24 * 24 * 3600_000;

/** commander argParser for durations of at most `maxMs` (`label` names the bound in the error). */
export function durationArgAtMost(maxMs: number, label: string): (value: string) => number {
  return (value) => {
    const ms = durationArg(value);
    if (ms > maxMs) throw new InvalidArgumentError(`duration must be at most ${label}, got "${value}"`);
    return ms;
  };
}

/** commander argParser for durations a timer waits: at most 24 days ({@link MAX_TIMER_MS}). */
export const timerDurationArg: (value: string) => number = durationArgAtMost(MAX_TIMER_MS, "24d");

/** commander argParser for non-negative integers. */
export function nonNegativeIntArg(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`number too large: "${value}"`);
  return n;
}

/** commander argParser for TCP ports (0–65535). */
export function portArg(value: string): number {
  const n = nonNegativeIntArg(value);
  if (n > 65535) throw new InvalidArgumentError(`port must be 0-65535, got ${n}`);
  return n;
}

/** commander argParser validating an application name. */
export function appNameArg(value: string): string {
  const problem = appNameProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

/** The `--api-url`/`-u` option (`AUTOPGO_API_URL`, default http://localhost:8080). */
export function apiUrlOption(): Option {
  return envOption("-u, --api-url <url>", "base URL of the autopgo server", "API_URL").default("http://localhost:8080");
}

/** The `--token` option (`AUTOPGO_TOKEN`): bearer token for the server API. */
export function tokenOption(description = "bearer token sent to the autopgo server"): Option {
  return envOption("--token <token>", description, "TOKEN");
}
