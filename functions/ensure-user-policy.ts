import type { IAMClient } from "@aws-sdk/client-iam";
import type { Home } from "./lib/aws.ts";
import { USER_POLICY_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { ensureShippedPolicy, type PolicyStepResult } from "./lib/policy-step.ts";
import type { ChangeRecorder } from "./lib/registry.ts";
import type { PlanSink, StepInput } from "./lib/step.ts";
import { targetStep } from "./lib/target-step.ts";

const STEP = "EnsureUserPolicy";

/** Step 1: the policy of the user (and console role) Redis manages the account with. */
export function ensureUserPolicy(
  input: StepInput,
  deps: { iam: IAMClient; home: Home; registry: ChangeRecorder; plan?: PlanSink },
): Promise<PolicyStepResult> {
  return ensureShippedPolicy(
    STEP,
    USER_POLICY_NAME,
    "Redis Cloud BYOC: permissions of the user Redis manages the account with",
    input,
    deps,
  );
}

export const { run, handler } = defineStep({ ...targetStep, name: STEP, run: ensureUserPolicy });
