import type { IAMClient } from "@aws-sdk/client-iam";
import type { Home } from "./lib/aws.ts";
import { INSTANCE_POLICY_NAME, NODE_ROLE_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { ensureInstanceProfile, ensureRole } from "./lib/iam.ts";
import { policyArn, TRUST_POLICIES } from "./lib/policies.ts";
import type { ChangeRecorder } from "./lib/registry.ts";
import type { PlanSink, StepInput, StepReport } from "./lib/step.ts";
import { recorderFor, targetStep } from "./lib/target-step.ts";

const STEP = "EnsureNodeRole";

export interface NodeRoleResult extends StepReport {
  roleArn: string;
  instanceProfileArn: string;
}

/** Step 4: the EC2 role of Redis's cluster nodes, with the instance profile the console would make. */
export async function ensureNodeRole(
  input: StepInput,
  deps: { iam: IAMClient; home: Home; registry: ChangeRecorder; plan?: PlanSink },
): Promise<NodeRoleResult> {
  const rec = await recorderFor(STEP, input, deps);
  const instancePolicy = policyArn(deps.home.partition, input.target.accountId, INSTANCE_POLICY_NAME);
  const roleArn = await ensureRole(
    deps.iam,
    {
      name: NODE_ROLE_NAME,
      description: "Redis Cloud BYOC: role of the cluster node EC2 instances",
      trust: TRUST_POLICIES.nodeRole,
      policyArn: instancePolicy,
    },
    rec,
  );
  const instanceProfileArn = await ensureInstanceProfile(deps.iam, NODE_ROLE_NAME, NODE_ROLE_NAME, rec);
  return { roleArn, instanceProfileArn, ...rec.report() };
}

export const { run, handler } = defineStep({ ...targetStep, name: STEP, run: ensureNodeRole });
