import type { IAMClient } from "@aws-sdk/client-iam";
import type { Home } from "./lib/aws.ts";
import { CONSOLE_ROLE_NAME, type Config } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { ensureRole } from "./lib/iam.ts";
import { policyArn, TRUST_POLICIES } from "./lib/policies.ts";
import type { ChangeRecorder } from "./lib/registry.ts";
import type { PlanSink, StepInput, StepReport } from "./lib/step.ts";
import { recorderFor, targetDeps, targetStep } from "./lib/target-step.ts";

const STEP = "EnsureConsoleRole";

export interface ConsoleRoleResult extends StepReport {
  roleName: string;
  roleArn: string;
  policyArn: string;
}

/** Step 5: the role Redis's support signs in to the console with (its account, MFA required). */
export async function ensureConsoleRole(
  input: StepInput,
  deps: {
    iam: IAMClient;
    home: Home;
    config: Pick<Config, "consoleRolePolicyName">;
    registry: ChangeRecorder;
    plan?: PlanSink;
  },
): Promise<ConsoleRoleResult> {
  const rec = await recorderFor(STEP, input, deps);
  const attached = policyArn(deps.home.partition, input.target.accountId, deps.config.consoleRolePolicyName);
  const roleArn = await ensureRole(
    deps.iam,
    {
      name: CONSOLE_ROLE_NAME,
      description: "Redis Cloud BYOC: console access for Redis (account 168085023892, MFA required)",
      trust: TRUST_POLICIES.consoleRole,
      policyArn: attached,
    },
    rec,
  );
  return { roleName: CONSOLE_ROLE_NAME, roleArn, policyArn: attached, ...rec.report() };
}

export const { run, handler } = defineStep({
  ...targetStep,
  name: STEP,
  settings: [...targetStep.settings, "consoleRolePolicyName"],
  deps: async (context) => ({ ...(await targetDeps(context)), config: context.runtime.config }),
  run: ensureConsoleRole,
});
