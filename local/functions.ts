import { run as ensureConsoleRole } from "../functions/ensure-console-role.ts";
import { run as ensureInstancePolicy } from "../functions/ensure-instance-policy.ts";
import { run as ensureNodeRole } from "../functions/ensure-node-role.ts";
import { run as ensureUser } from "../functions/ensure-user.ts";
import { run as ensureUserPolicy } from "../functions/ensure-user-policy.ts";
import type { StepRun } from "../functions/lib/handler.ts";
import { run as validateInput } from "../functions/validate-input.ts";

/** The code behind each function of serverless.yml, by the name the definition's Fn::GetAtt uses. */
export const STEP_RUNS: Record<string, StepRun<unknown>> = {
  validateInput,
  ensureInstancePolicy,
  ensureNodeRole,
  ensureUserPolicy,
  ensureUser,
  ensureConsoleRole,
};
