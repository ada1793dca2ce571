import type * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import type { Registry } from "./lib/registry.ts";
import { ErrorNameSchema, registryStep } from "./lib/registry-step.ts";
import { StepInputSchema } from "./lib/step.ts";

/** A failed offboarding: the registry keeps the status `offboarding` and the error's name. */
export const RecordOffboardingFailureInputSchema = StepInputSchema.extend({ error: ErrorNameSchema });

export async function recordOffboardingFailure(
  input: z.output<typeof RecordOffboardingFailureInputSchema>,
  deps: { registry: Pick<Registry, "failOffboarding"> },
): Promise<{ status: "failed" }> {
  await deps.registry.failOffboarding(input.target.accountId, input.execution, input.error);
  return { status: "failed" };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: "RecordOffboardingFailure",
  input: RecordOffboardingFailureInputSchema,
  run: recordOffboardingFailure,
});
