import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { ExecutionError, StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";
import { parse } from "yaml";
import type { Runtime, StepRun } from "../functions/lib/define-step.ts";
import { describeAwsFailure } from "../functions/lib/errors.ts";
import { localDistributedMaps } from "./distributed-map.ts";

/**
 * The workflows serverless.yml deploys, each `${file(statemachine/<name>.asl.yml)}`. Every one runs
 * locally through the same runner with the real step code.
 */
export type WorkflowName = "onboarding" | "offboarding" | "rotation" | "bulk-onboarding" | "reconcile";

export const definitionFile = (name: WorkflowName): URL =>
  new URL(`../statemachine/${name}.asl.yml`, import.meta.url);

/** The onboarding's file, the default of every helper here. */
export const DEFINITION_FILE = definitionFile("onboarding");

type Definition = { States: Record<string, Record<string, unknown>> } & Record<string, unknown>;

const loaded = new Map<WorkflowName, string>();

/**
 * The definition as serverless reads it: YAML with its aliases expanded. A JSON round trip makes
 * every alias a copy of its own, as in the packaged template (and each caller a copy of its own).
 */
export function loadDefinition(name: WorkflowName = "onboarding"): Definition {
  let text = loaded.get(name);
  if (text === undefined) {
    text = JSON.stringify(parse(readFileSync(definitionFile(name), "utf8")));
    loaded.set(name, text);
  }
  return JSON.parse(text) as Definition;
}

/** One entry of the execution's event log (the package does not export the type by name). */
export type EventLog =
  ReturnType<StateMachine["run"]>["eventLogs"] extends AsyncGenerator<infer E> ? E : never;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The deployed definition references each Lambda with `Fn::GetAtt` and the lock table with `Ref`
 * (serverless-step-functions resolves them at package time). Locally a function becomes an ARN
 * naming it and a table is named by its logical id, so that the very same file runs here and in AWS.
 */
export function resolveDefinition(
  accountId: string,
  region = "us-east-1",
  name: WorkflowName = "onboarding",
): StateMachineDefinition {
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== "object") return value;
    const getAtt = (value as { "Fn::GetAtt"?: unknown })["Fn::GetAtt"];
    if (Array.isArray(getAtt)) return `arn:aws:lambda:${region}:${accountId}:function:${String(getAtt[0])}`;
    const ref = (value as { Ref?: unknown }).Ref;
    if (typeof ref === "string") return ref;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  };
  return resolve(loadDefinition(name)) as StateMachineDefinition;
}

/**
 * Every Task state of the definition (nested ones too) with the function it invokes, or for a
 * service integration (e.g. `arn:aws:states:::events:putEvents`) its resource as `fn`.
 */
export function taskStates(def: unknown): { state: string; fn: string; lambda: boolean }[] {
  const found: { state: string; fn: string; lambda: boolean }[] = [];
  const visit = (states: Record<string, Record<string, unknown>>) => {
    for (const [state, body] of Object.entries(states)) {
      const resource = body.Resource;
      if (body.Type === "Task" && typeof resource === "string") {
        const lambda = resource.includes(":function:");
        found.push({ state, fn: lambda ? resource.slice(resource.lastIndexOf(":") + 1) : resource, lambda });
      }
      for (const nested of [body.Iterator, body.ItemProcessor, ...((body.Branches as unknown[]) ?? [])]) {
        const inner = (nested as { States?: Record<string, Record<string, unknown>> } | undefined)?.States;
        if (inner) visit(inner);
      }
    }
  };
  visit((def as { States: Record<string, Record<string, unknown>> }).States);
  return found;
}

/** Validating the definition is most of a local run's cost: do it once per home account. */
const machines = new Map<string, StateMachine>();

function stateMachineFor(def: StateMachineDefinition, key: string): StateMachine {
  let machine = machines.get(key);
  if (!machine) {
    machine = new StateMachine(def, { validationOptions: { checkArn: true, checkPaths: true } });
    machines.set(key, machine);
  }
  return machine;
}

export interface WorkflowOptions {
  runtime: Runtime;
  executionName?: string;
  /** The code of each function, by its serverless.yml name (see local/functions.ts). */
  runs: Record<string, StepRun<unknown>>;
  /**
   * Local stand-ins of the service integrations, by resource ARN; what one answers is the state's
   * result. One that invokes a function gets the run's code and runtime.
   */
  services?: Record<string, (parameters: Json, run?: ServiceContext) => Promise<unknown>>;
  /** Called with every event as it happens (state entered/exited, retries, failures). */
  onEvent?: (event: EventLog) => void;
  /** Pause of every Retry and Wait, in milliseconds (0: as fast as possible; unset: as written). */
  pauseMs?: number;
}

/** What a service stand-in may need of the run: its functions' code, invoked as Lambda would. */
export interface ServiceContext {
  invoke: (fn: string, payload: unknown) => Promise<unknown>;
  runs: Record<string, StepRun<unknown>>;
  /** The run's own options: a child execution runs as its parent does (clock, pauses, stand-ins). */
  options: WorkflowOptions;
}

/** The workflow a definition's `Ref: <Name>StateMachine` names (e.g. BulkOnboardingStateMachine). */
export function workflowOfRef(ref: string): WorkflowName {
  const match = /^([A-Z][A-Za-z]*)StateMachine$/.exec(ref);
  if (!match?.[1]) throw new Error(`not a state machine's logical id: ${ref}`);
  return match[1].replace(/(?<!^)([A-Z])/g, "-$1").toLowerCase() as WorkflowName;
}

export interface WorkflowResult {
  executionName: string;
  status: "SUCCEEDED" | "FAILED";
  output?: Json;
  error?: { Error: string; Cause: string };
  events: EventLog[];
}

/** Runs statemachine/onboarding.asl.yml (see runWorkflow). */
export function runOnboarding(input: unknown, options: WorkflowOptions): Promise<WorkflowResult> {
  return runWorkflow("onboarding", input, options);
}

/**
 * Runs statemachine/<name>.asl.yml with aws-local-stepfunctions, each Task backed by the
 * real step code. A step's input and output go through JSON, and a thrown error reaches the
 * state machine the way Lambda reports it (name = errorType, cause = a JSON document), so that
 * Retry, Catch and the states' data behave as in AWS.
 */
export async function runWorkflow(
  name: WorkflowName,
  input: unknown,
  options: WorkflowOptions,
): Promise<WorkflowResult> {
  const { runtime } = options;
  const executionName = options.executionName ?? randomUUID();
  // A Distributed Map runs through the local stand-in (local/distributed-map.ts).
  const def = localDistributedMaps(resolveDefinition(runtime.accountId, runtime.region, name));
  const handlers: Record<string, (input: Json) => Promise<Json>> = {};
  for (const { state, fn, lambda } of taskStates(def)) {
    if (!lambda) {
      const service = options.services?.[fn];
      if (!service) throw new Error(`no local stand-in for ${fn} (state ${state})`);
      const context: ServiceContext = {
        runs: options.runs,
        options,
        invoke: (name, payload) => {
          const code = options.runs[name];
          if (!code) throw new Error(`no local code for function ${name} (state ${state})`);
          return invokeLikeLambda(name, code, payload as Json, runtime);
        },
      };
      handlers[state] = async (parameters) => ((await service(parameters, context)) ?? {}) as Json;
      continue;
    }
    const run = options.runs[fn];
    if (!run) throw new Error(`no local code for function ${fn} (state ${state})`);
    handlers[state] = (event) => invokeLikeLambda(fn, run, event, runtime);
  }
  const pause = options.pauseMs;
  const everyState = (type: string, ms: number): Record<string, number> =>
    Object.fromEntries(
      Object.entries(def.States as Record<string, { Type: string; Retry?: unknown }>)
        .filter(([, s]) => (type === "Retry" ? s.Retry !== undefined : s.Type === type))
        .map(([name]) => [name, ms]),
    );
  const machine = stateMachineFor(def, `${name}|${runtime.accountId}|${runtime.region}`);
  const startTime = new Date().toISOString();
  const execution = machine.run(input as Json, {
    overrides: {
      taskResourceLocalHandlers: handlers,
      // Without pauseMs the definition's own backoff and waits apply (live runs).
      ...(pause === undefined
        ? {}
        : {
            retryIntervalOverrides: everyState("Retry", pause),
            waitTimeOverrides: everyState("Wait", pause),
          }),
    },
    context: {
      Execution: {
        Id: `arn:aws:states:${runtime.region}:${runtime.accountId}:execution:${name}:${executionName}`,
        Name: executionName,
        Input: input as Json,
        StartTime: startTime,
      },
      StateMachine: { Id: `arn:aws:states:${runtime.region}:${runtime.accountId}:stateMachine:${name}` },
      // The runner keeps one context for the whole execution and has no State in it. Read as the
      // state evaluates its paths, the time is that state's entry to within its own work: fresh
      // on each attempt of a loop, as the lock's wait needs.
      // A task token, fresh each time a state reads it (each attempt of a waiting task).
      Task: {
        get Token() {
          return randomUUID();
        },
      },
      State: {
        get EnteredTime() {
          return new Date().toISOString();
        },
      },
    } as never,
  });
  const events: EventLog[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      events.push(event);
      options.onEvent?.(event);
    }
  })();
  try {
    const output = (await execution.result) as Json;
    await collecting;
    return { executionName, status: "SUCCEEDED", output, events };
  } catch (error) {
    await collecting;
    if (!(error instanceof ExecutionError)) throw error;
    const cause = error.cause as Error;
    return { executionName, status: "FAILED", error: { Error: cause.name, Cause: cause.message }, events };
  }
}

async function invokeLikeLambda(
  fn: string,
  run: StepRun<unknown>,
  event: Json,
  runtime: Runtime,
): Promise<Json> {
  try {
    const result = await run(JSON.parse(JSON.stringify(event)), runtime);
    return JSON.parse(JSON.stringify(result ?? null)) as Json;
  } catch (thrown) {
    const error = describeAwsFailure(fn, "step", "", thrown);
    const lambdaError = new Error(JSON.stringify({ errorType: error.name, errorMessage: error.message }));
    lambdaError.name = error.name;
    throw lambdaError;
  }
}
