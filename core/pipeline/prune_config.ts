/**
 * The worker's pruning file (`--prune`), JSON as in the original README:
 * `[{"app": "<name>", "rules": [{"drop": "<regexp>", "keep": "<regexp>"}]}]`.
 *
 * Validated completely at start-up, so mistakes are one clear line instead of a crash loop
 * later (the original panicked on a rule without `drop`): bad JSON, a wrong shape, a rule
 * without `drop`, or a regexp that does not compile. Regexps are unanchored, as in Go/pprof.
 * The first entry whose `app` matches applies.
 *
 * @module
 */

import { readRegularTextFile } from "../regular_file.ts";

/** One pruning rule: pprof `Prune(drop, keep)`. */
export interface PruneRule {
  drop: RegExp;
  keep?: RegExp;
}

/** The rules of one app. */
export interface AppPruneRules {
  app: string;
  rules: PruneRule[];
}

/** A whole pruning file. */
export type PruneConfig = AppPruneRules[];

/** The pruning file is unusable; the message is one line and names the file and the entry. */
export class PruneConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PruneConfigError";
  }
}

function compile(source: unknown, where: string, field: string): RegExp {
  if (typeof source !== "string" || source === "") {
    throw new PruneConfigError(`${where}: "${field}" must be a non-empty regular expression string`);
  }
  try {
    return new RegExp(source);
  } catch (error) {
    throw new PruneConfigError(`${where}: "${field}" is not a valid regular expression: ${(error as Error).message}`);
  }
}

/** Parses and validates the text of a pruning file; `name` is used in error messages. */
export function parsePruneConfig(text: string, name: string): PruneConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PruneConfigError(`prune config ${name}: not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) throw new PruneConfigError(`prune config ${name}: expected a JSON array of apps`);
  return value.map((entry, i): AppPruneRules => {
    const where = `prune config ${name}: entry ${i}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new PruneConfigError(`${where}: expected an object with "app" and "rules"`);
    }
    const { app, rules } = entry as Record<string, unknown>;
    if (typeof app !== "string" || app === "") throw new PruneConfigError(`${where}: "app" must be a non-empty string`);
    if (!Array.isArray(rules)) throw new PruneConfigError(`${where} (app "${app}"): "rules" must be an array`);
    return {
      app,
      rules: rules.map((rule, j): PruneRule => {
        const ruleWhere = `${where} (app "${app}") rule ${j}`;
        if (typeof rule !== "object" || rule === null || Array.isArray(rule)) {
          throw new PruneConfigError(`${ruleWhere}: expected an object with "drop" and optional "keep"`);
        }
        const r = rule as Record<string, unknown>;
        if (r.drop === undefined || r.drop === null) throw new PruneConfigError(`${ruleWhere}: "drop" is required`);
        const drop = compile(r.drop, ruleWhere, "drop");
        const keep = r.keep === undefined || r.keep === null || r.keep === ""
          ? undefined
          : compile(r.keep, ruleWhere, "keep");
        return keep ? { drop, keep } : { drop };
      }),
    };
  });
}

/** Largest prune rules file read. */
const MAX_PRUNE_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Loads the pruning file at `path` (undefined or "" → no rules). A file that cannot be read is
 * an error: the operator asked for rules explicitly. `readTextFile` is injected for tests.
 */
export async function loadPruneConfig(
  path: string | undefined,
  readTextFile: (path: string) => Promise<string> = (path) => readRegularTextFile(path, MAX_PRUNE_FILE_BYTES),
): Promise<PruneConfig> {
  if (path === undefined || path === "") return [];
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "file does not exist" : (error as Error).message;
    throw new PruneConfigError(`prune config ${path}: ${reason}`);
  }
  return parsePruneConfig(text, path);
}

/** The rules of the first entry naming `app`, or [] when none does. */
export function rulesFor(config: PruneConfig, app: string): PruneRule[] {
  return config.find((entry) => entry.app === app)?.rules ?? [];
}
