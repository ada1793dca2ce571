import type { IAMClient } from "@aws-sdk/client-iam";
import type { Home } from "./aws.ts";
import type { INSTANCE_POLICY_NAME, USER_POLICY_NAME } from "./config.ts";
import { ensureManagedPolicy } from "./iam.ts";
import { MANAGED_POLICIES, policyArn } from "./policies.ts";
import type { ChangeRecorder } from "./registry.ts";
import type { PlanSink, StepInput, StepReport } from "./step.ts";
import { recorderFor } from "./target-step.ts";

export interface PolicyStepResult extends StepReport {
  policyArn: string;
}

/** Both policy steps are the same reconcile of one of Redis's two shipped documents. */
export async function ensureShippedPolicy(
  step: string,
  name: typeof INSTANCE_POLICY_NAME | typeof USER_POLICY_NAME,
  description: string,
  input: StepInput,
  deps: { iam: IAMClient; home: Home; registry: ChangeRecorder; plan?: PlanSink },
): Promise<PolicyStepResult> {
  const rec = await recorderFor(step, input, deps);
  const arn = policyArn(deps.home.partition, input.target.accountId, name);
  await ensureManagedPolicy(deps.iam, { arn, name, description, document: MANAGED_POLICIES[name] }, rec);
  return { policyArn: arn, ...rec.report() };
}
