import type { StepRun } from "../../functions/lib/define-step.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { HOME } from "../environment.ts";
import { type EventLog, resolveDefinition, taskStates, type WorkflowOptions } from "../workflow.ts";
import { UsageError } from "./args.ts";

export interface FailableState {
  state: string;
  /** What the state runs: a function by its serverless.yml name, or a service integration's ARN. */
  resource: string;
  lambda: boolean;
}

/** Only after a failure: the rollback, and the registry's record of the failure. */
const AFTER_FAILURE = new Set(["RollBack", "RecordFailure"]);

/** Every Task state (a Lambda or a service integration) but those that only run after a failure. */
export function failableStates(): FailableState[] {
  return taskStates(resolveDefinition(HOME.accountId))
    .filter((task) => !AFTER_FAILURE.has(task.state))
    .map(({ state, fn, lambda }) => ({ state, resource: fn, lambda }));
}

export function failableState(state: string): FailableState {
  const states = failableStates();
  const found = states.find((candidate) => candidate.state === state);
  if (found) return found;
  const names = states.map((candidate) => candidate.state).join(", ");
  throw new UsageError(`option --fail-at: no state ${state} can be made to fail (one of ${names})`);
}

type Wiring = Pick<WorkflowOptions, "runs" | "services" | "onEvent">;
type Services = NonNullable<WorkflowOptions["services"]>;

/**
 * Makes one state fail for good, as a step does when an SCP denies its first call, so that the
 * state machine catches it and rolls back what earlier steps made. The runner hands code to states
 * by function or by service ARN, and several states may share one (the lock's release runs on
 * success and after a failure), so the wrapped code asks which state is running: the last one
 * the execution entered. The execution is sequential (no Parallel or Map state), and its events
 * are delivered before the next macrotask, so after one the last StateEntered is this state's.
 */
export function failingAt(target: FailableState, wiring: Wiring): Wiring {
  let current = "";
  const onEvent = (event: EventLog) => {
    if (event.type === "StateEntered") current = event.state.name;
    wiring.onEvent?.(event);
  };
  const isTarget = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return current === target.state;
  };
  const failure = () =>
    new WorkflowError(
      "AccessDenied",
      `${target.state}: access denied (failure injected by --fail-at ${target.state})`,
    );
  if (target.lambda) {
    const run = wiring.runs[target.resource];
    if (!run) throw new Error(`no code for function ${target.resource}`);
    const failing: StepRun<unknown> = async (event, runtime) => {
      if (await isTarget()) throw failure();
      return run(event, runtime);
    };
    return { ...wiring, onEvent, runs: { ...wiring.runs, [target.resource]: failing } };
  }
  const service = wiring.services?.[target.resource];
  if (!service) throw new Error(`no stand-in for ${target.resource}`);
  const failing: Services[string] = async (parameters, run) => {
    if (await isTarget()) throw failure();
    return service(parameters, run);
  };
  return { ...wiring, onEvent, services: { ...wiring.services, [target.resource]: failing } };
}
