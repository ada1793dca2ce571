import * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import { startedByOf } from "./lib/execution-names.ts";
import { emitFleetMetric } from "./lib/fleet-metrics.ts";
import { STARTED_BY_ARN } from "./lib/onboarding-input.ts";
import type { Registry } from "./lib/registry.ts";
import { registryStep } from "./lib/registry-step.ts";
import { type StepInput, StepInputSchema } from "./lib/step.ts";

const STEP = "RecordStart";

/**
 * Right after the lock: the account's registry item says this run is onboarding it, so that every
 * step can record what it creates, and the rollback can tell this run's records from any other's.
 */
/** ValidateInput's word on who started the run: an ARN, a vending source, or null (unknown). */
const RecordStartInput = StepInputSchema.extend({
  startedBy: z
    .union([
      z.string().regex(STARTED_BY_ARN),
      z.enum(["vending:controltower", "vending:organizations", "http-api"]),
    ])
    .nullish(),
});

export async function recordStart(
  input: StepInput & { startedBy?: string | null | undefined },
  deps: { registry: Pick<Registry, "beginRun"> },
): Promise<{ status: string; lastExecution: string }> {
  const { accountId } = input.target;
  const item = await deps.registry.beginRun(accountId, {
    execution: input.execution,
    // The HTTP caller's ARN when ValidateInput found one; else what the execution's name says.
    startedBy: input.startedBy ?? startedByOf(accountId, input.execution),
  });
  // The fleet's count of runs begun (a retried RecordStart may count one twice: at least once).
  emitFleetMetric("onboardingStarted");
  return { status: item?.status ?? "onboarding", lastExecution: input.execution };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: STEP,
  input: RecordStartInput,
  run: recordStart,
});
