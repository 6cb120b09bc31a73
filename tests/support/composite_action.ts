/**
 * Runs a composite GitHub Action (its action.yml) on this machine the way the Actions runner does,
 * closely enough to test the autopgo action without GitHub:
 *
 * - inputs take the given value or their default; an input the action does not declare is an error;
 * - `${{ … }}` in `env`, `run`, `working-directory`, `if` and `with` is replaced before a step runs.
 *   Only property paths (`inputs.app`, `steps.resolve.outputs.tag`, `github.action_path`, …) and
 *   comparisons of one with a string literal (`== ''`, `!= ''`) are understood; anything else throws,
 *   which keeps action.yml's expressions simple enough to be tested here;
 * - `run` steps are written to a file and run with `bash --noprofile --norc -eo pipefail FILE` (the
 *   runner's `shell: bash`), with GITHUB_OUTPUT, GITHUB_ACTION_PATH and the step's env; a failing
 *   step fails the action;
 * - `uses` steps are not run: their `with` is evaluated and recorded. For actions/cache the tests
 *   keep RUNNER_TOOL_CACHE between runs, which is what a cache hit restores.
 *
 * @module
 */

import { join } from "node:path";
import { loadYaml } from "@kubernetes/client-node";

interface InputSpec {
  default?: string;
  required?: boolean;
}

interface StepSpec {
  id?: string;
  if?: string;
  uses?: string;
  with?: Record<string, string>;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
  "working-directory"?: string;
}

interface ActionSpec {
  inputs?: Record<string, InputSpec>;
  outputs?: Record<string, { value: string }>;
  runs: { using: string; steps: StepSpec[] };
}

/** What one step did. */
export interface StepResult {
  id?: string;
  /** `run`, `uses <action>`, or `skipped`. */
  kind: string;
  /** `with` of a `uses` step, evaluated. */
  with?: Record<string, string>;
  outputs: Record<string, string>;
  code?: number;
}

/** The outcome of running an action. */
export interface ActionRun {
  /** 0 when every step succeeded, else the failing step's exit code. */
  code: number;
  stdout: string;
  stderr: string;
  /** The action's outputs. */
  outputs: Record<string, string>;
  steps: StepResult[];
}

/** Options of {@link runCompositeAction}. */
export interface CompositeOptions {
  inputs: Record<string, string>;
  /** The job's environment (PATH, HOME and RUNNER_* should be in it). */
  env: Record<string, string>;
  /** GITHUB_WORKSPACE: the base of `working-directory`. */
  workspace: string;
  /** Extra `github.*` context values (action_repository, action_ref, …). */
  github?: Record<string, string>;
}

/** Parses GITHUB_OUTPUT content: `name=value` lines and `name<<DELIM` … `DELIM` blocks. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const block = lines[i].match(/^([^=<]+)<<(.+)$/);
    if (block) {
      const end = lines.indexOf(block[2], i + 1);
      if (end < 0) throw new Error(`GITHUB_OUTPUT: unterminated ${block[1]}<<${block[2]}`);
      outputs[block[1]] = lines.slice(i + 1, end).join("\n");
      i = end;
    } else if (lines[i].includes("=")) {
      const at = lines[i].indexOf("=");
      outputs[lines[i].slice(0, at)] = lines[i].slice(at + 1);
    }
  }
  return outputs;
}

/** Runs the composite action in `actionDir` (which holds action.yml). */
export async function runCompositeAction(actionDir: string, options: CompositeOptions): Promise<ActionRun> {
  const spec = loadYaml<ActionSpec>(await Deno.readTextFile(join(actionDir, "action.yml")));
  if (spec.runs?.using !== "composite") throw new Error(`action.yml: runs.using is ${spec.runs?.using}`);
  for (const name of Object.keys(options.inputs)) {
    if (!spec.inputs?.[name]) throw new Error(`unexpected input ${name}: action.yml does not declare it`);
  }
  const inputs: Record<string, string> = {};
  for (const [name, input] of Object.entries(spec.inputs ?? {})) {
    inputs[name] = options.inputs[name] ?? String(input.default ?? "");
  }
  const steps: Record<string, { outputs: Record<string, string> }> = {};
  const context: Record<string, Record<string, unknown>> = {
    inputs,
    steps,
    github: {
      action_path: actionDir,
      action_repository: "",
      action_ref: "",
      server_url: "https://github.com",
      workspace: options.workspace,
      ...options.github,
    },
    runner: { temp: options.env.RUNNER_TEMP ?? "", tool_cache: options.env.RUNNER_TOOL_CACHE ?? "" },
  };
  const lookup = (path: string): string => {
    let value: unknown = context;
    for (const key of path.split(".")) {
      if (value === undefined || value === null || typeof value !== "object") break;
      value = (value as Record<string, unknown>)[key];
    }
    if (path.startsWith("steps.") || path.startsWith("inputs.")) return value === undefined ? "" : String(value);
    if (value === undefined) throw new Error(`expression ${path}: unknown context value`);
    return String(value);
  };
  const evaluate = (expression: string): string => {
    const e = expression.trim();
    const comparison = e.match(/^([A-Za-z_][\w.-]*)\s*(==|!=)\s*'([^']*)'$/);
    if (comparison) return String((lookup(comparison[1]) === comparison[3]) === (comparison[2] === "=="));
    if (/^[A-Za-z_][\w.-]*$/.test(e)) return lookup(e);
    throw new Error(`expression not understood by this test runner: ${e}`);
  };
  const substitute = (text: string) => text.replace(/\$\{\{(.*?)\}\}/g, (_, expr: string) => evaluate(expr));
  const condition = (text: string) => (/\$\{\{/.test(text) ? substitute(text) : evaluate(text)) === "true";

  const results: StepResult[] = [];
  let stdout = "";
  let stderr = "";
  let code = 0;
  const scratch = await Deno.makeTempDir({ prefix: "autopgo-composite-" });
  try {
    for (const [index, step] of spec.runs.steps.entries()) {
      if (step.if !== undefined && !condition(step.if)) {
        results.push({ id: step.id, kind: "skipped", outputs: {} });
        continue;
      }
      if (step.uses) {
        const evaluated = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, substitute(v)]));
        results.push({ id: step.id, kind: `uses ${step.uses}`, with: evaluated, outputs: {} });
        continue;
      }
      if (step.shell !== "bash" || step.run === undefined) throw new Error(`step ${index}: only shell: bash run steps`);
      const script = join(scratch, `step-${index}.sh`);
      const outputFile = join(scratch, `output-${index}`);
      await Deno.writeTextFile(script, substitute(step.run));
      await Deno.writeTextFile(outputFile, "");
      const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, substitute(v)]));
      const out = await new Deno.Command("bash", {
        args: ["--noprofile", "--norc", "-eo", "pipefail", script],
        cwd: join(options.workspace, substitute(step["working-directory"] ?? ".")),
        clearEnv: true,
        env: {
          ...options.env,
          GITHUB_WORKSPACE: options.workspace,
          GITHUB_ACTION_PATH: actionDir,
          GITHUB_OUTPUT: outputFile,
          ...stepEnv,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      stdout += new TextDecoder().decode(out.stdout);
      stderr += new TextDecoder().decode(out.stderr);
      const outputs = parseOutputFile(await Deno.readTextFile(outputFile));
      if (step.id) steps[step.id] = { outputs };
      results.push({ id: step.id, kind: "run", outputs, code: out.code });
      if (out.code !== 0) {
        code = out.code;
        break;
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  const outputs = Object.fromEntries(
    Object.entries(spec.outputs ?? {}).map(([name, output]) => [name, substitute(String(output.value))]),
  );
  return { code, stdout, stderr, outputs, steps: results };
}
