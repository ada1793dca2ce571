import type { IAMClient } from "@aws-sdk/client-iam";
import type { Home } from "./lib/aws.ts";
import { INSTANCE_POLICY_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { ensureShippedPolicy, type PolicyStepResult } from "./lib/policy-step.ts";
import type { ChangeRecorder } from "./lib/registry.ts";
import type { PlanSink, StepInput } from "./lib/step.ts";
import { targetStep } from "./lib/target-step.ts";

const STEP = "EnsureInstancePolicy";

/** Step 3: the policy of the EC2 instances Redis runs in the account. */
export function ensureInstancePolicy(
  input: StepInput,
  deps: { iam: IAMClient; home: Home; registry: ChangeRecorder; plan?: PlanSink },
): Promise<PolicyStepResult> {
  return ensureShippedPolicy(
    STEP,
    INSTANCE_POLICY_NAME,
    "Redis Cloud BYOC: permissions of the cluster node instances",
    input,
    deps,
  );
}

export const { run, handler } = defineStep({ ...targetStep, name: STEP, run: ensureInstancePolicy });
