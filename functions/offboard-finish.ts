import * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import type { Registry } from "./lib/registry.ts";
import { registryStep } from "./lib/registry-step.ts";
import { StepInputSchema } from "./lib/step.ts";

/*
 * How an offboarding ends in the registry: `offboarded` with the record of what it removed, kept
 * and gave back; or, failed, still `offboarding` with the error's name, for a re-run to finish.
 */

export const RecordOffboardedInputSchema = StepInputSchema.extend({
  /** The steps' reports (ids, names and reasons: never a secret). */
  report: z.looseObject({}),
});

export async function recordOffboarded(
  input: z.output<typeof RecordOffboardedInputSchema>,
  deps: { registry: Pick<Registry, "finishOffboarding"> },
): Promise<{ status: "offboarded" }> {
  await deps.registry.finishOffboarding(input.target.accountId, input.execution, input.report);
  return { status: "offboarded" };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: "RecordOffboarded",
  input: RecordOffboardedInputSchema,
  run: recordOffboarded,
});
