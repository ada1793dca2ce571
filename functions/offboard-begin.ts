import * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import { startedByOf } from "./lib/execution-names.ts";
import { STARTED_BY_ARN } from "./lib/onboarding-input.ts";
import type { Registry } from "./lib/registry.ts";
import { registryStep } from "./lib/registry-step.ts";
import { StepInputSchema } from "./lib/step.ts";

const STEP = "BeginOffboarding";

/*
 * Once Redis no longer holds the cloud account: the registry names this execution as the account's
 * running one, status offboarding, so that the steps after it may forget what they remove, and a
 * re-run after a crash finds the offboarding unfinished.
 */

export const BeginOffboardingInputSchema = StepInputSchema.extend({
  startedBy: z.union([z.string().regex(STARTED_BY_ARN), z.string().regex(/^[\w:-]{1,64}$/)]).nullish(),
});

export async function beginOffboarding(
  input: z.output<typeof BeginOffboardingInputSchema>,
  deps: { registry: Pick<Registry, "beginOffboarding"> },
): Promise<{ status: string; lastExecution: string }> {
  const { accountId } = input.target;
  const item = await deps.registry.beginOffboarding(accountId, {
    execution: input.execution,
    startedBy: input.startedBy ?? startedByOf(accountId, input.execution),
  });
  return { status: item?.status ?? "offboarding", lastExecution: input.execution };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: STEP,
  input: BeginOffboardingInputSchema,
  run: beginOffboarding,
});
