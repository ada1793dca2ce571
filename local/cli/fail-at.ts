import type { StepRun } from "../../functions/lib/define-step.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { HOME } from "../environment.ts";
import { resolveDefinition, taskStates } from "../workflow.ts";
import { UsageError } from "./args.ts";

export interface FailableState {
  state: string;
  /** The function behind it, by its serverless.yml name. */
  fn: string;
}

/** Only after a failure: the rollback, and the registry's record of the failure. */
const AFTER_FAILURE = new Set(["RollBack", "RecordFailure"]);

/** Every Lambda task but those that only run after a failure. */
export function failableStates(): FailableState[] {
  return taskStates(resolveDefinition(HOME.accountId)).filter(
    (task) => task.lambda && !AFTER_FAILURE.has(task.state),
  );
}

export function failableState(state: string): FailableState {
  const states = failableStates();
  const found = states.find((candidate) => candidate.state === state);
  if (found) return found;
  const names = states.map((candidate) => candidate.state).join(", ");
  throw new UsageError(`option --fail-at: no state ${state} can be made to fail (one of ${names})`);
}

/**
 * Replaces the state's function with one that fails for good, as a step does when an SCP
 * denies its first call: the state machine catches it and rolls back what earlier steps made.
 */
export function failingAt(
  task: FailableState,
  runs: Record<string, StepRun<unknown>>,
): Record<string, StepRun<unknown>> {
  const fail: StepRun<unknown> = async () => {
    throw new WorkflowError(
      "AccessDenied",
      `${task.state}: access denied (failure injected by --fail-at ${task.state})`,
    );
  };
  return { ...runs, [task.fn]: fail };
}
