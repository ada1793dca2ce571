import type * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import { emitFleetMetric } from "./lib/fleet-metrics.ts";
import type { Registry } from "./lib/registry.ts";
import { ErrorNameSchema, registryStep } from "./lib/registry-step.ts";
import { StepInputSchema } from "./lib/step.ts";

const STEP = "RecordFailure";

const RecordFailureInputSchema = StepInputSchema.extend({
  /** The name the run fails with; its cause stays in the execution's history. */
  error: ErrorNameSchema,
});
export type RecordFailureInput = z.output<typeof RecordFailureInputSchema>;

/** After the rollback: the registry says the run failed, and with which error. */
export async function recordFailure(
  input: RecordFailureInput,
  deps: { registry: Pick<Registry, "finish"> },
): Promise<{ status: "failed" }> {
  await deps.registry.finish(input.target.accountId, input.execution, {
    status: "failed",
    error: input.error,
  });
  // What the fleet's "failed onboarding" alarm counts.
  emitFleetMetric("onboardingFailed");
  return { status: "failed" };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: STEP,
  input: RecordFailureInputSchema,
  run: recordFailure,
});
