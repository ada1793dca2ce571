import { defineStep } from "./lib/define-step.ts";
import { startedByOf } from "./lib/execution-names.ts";
import type { Registry } from "./lib/registry.ts";
import { registryStep } from "./lib/registry-step.ts";
import { type StepInput, StepInputSchema } from "./lib/step.ts";

const STEP = "RecordStart";

/**
 * Right after the lock: the account's registry item says this run is onboarding it, so that every
 * step can record what it creates, and the rollback can tell this run's records from any other's.
 */
export async function recordStart(
  input: StepInput,
  deps: { registry: Pick<Registry, "beginRun"> },
): Promise<{ status: string; lastExecution: string }> {
  const { accountId } = input.target;
  const item = await deps.registry.beginRun(accountId, {
    execution: input.execution,
    startedBy: startedByOf(accountId, input.execution),
  });
  return { status: item?.status ?? "onboarding", lastExecution: input.execution };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: STEP,
  input: StepInputSchema,
  run: recordStart,
});
