import type { Home } from "./lib/aws.ts";
import type { Config } from "./lib/config.ts";
import { invalidInput } from "./lib/errors.ts";
import { lambdaHandler, type StepRun } from "./lib/handler.ts";
import { type LockExpiry, lockExpiry } from "./lib/lock.ts";
import {
  FIELD_NAMES,
  type InputProblem,
  inputProblem,
  validateOnboardingInput,
} from "./lib/onboarding-input.ts";
import type { Target } from "./lib/step.ts";

export type { OnboardingInput } from "./lib/onboarding-input.ts";

/**
 * The first state: refuses a bad input before anything is created, with an error that names
 * the field. Values are never echoed back: a field the schema does not know may hold anything.
 */
export function validateInput(
  raw: unknown,
  deps: { home: Home; config: Pick<Config, "defaultTargetRoleName" | "allowedTargetRoleNames"> },
): { target: Target; steps: Record<string, never> } {
  if (!validateOnboardingInput(raw))
    throw invalidInput(...describe(inputProblem(validateOnboardingInput.errors?.[0])));
  const accountId = raw.accountId ?? deps.home.accountId;
  const roleName = raw.roleName ?? deps.config.defaultTargetRoleName;
  if (!deps.config.allowedTargetRoleNames.includes(roleName)) {
    throw invalidInput(
      "roleName",
      `this deployment may only assume ${deps.config.allowedTargetRoleNames.join(" or ")} (setting TARGET_ROLE_NAMES)`,
    );
  }
  return { target: { accountId, roleName, accountName: raw.accountName ?? `aws-${accountId}` }, steps: {} };
}

function describe(problem: InputProblem): [string, string] {
  switch (problem.kind) {
    case "unknown-field":
      return problem.field === undefined
        ? ["input", `has an unknown field (the input takes only ${FIELD_NAMES})`]
        : [problem.field, `unknown field (the input takes only ${FIELD_NAMES})`];
    case "missing":
      return [problem.field, "is required"];
    case "not-an-object":
      return ["input", "must be object"];
    case "bad-value":
      return [problem.field, problem.about ? `${problem.rule}: ${problem.about}` : problem.rule];
  }
}

// The account lock's expiry comes from the execution's start; a direct invocation has none, and
// now is as good (a run enters this state within a second of its start).
export const run: StepRun<ReturnType<typeof validateInput> & { lock: LockExpiry }> = async (
  event,
  runtime,
) => ({
  ...validateInput((event as { input?: unknown } | null)?.input, { home: runtime, config: runtime.config }),
  lock: lockExpiry((event as { startTime?: unknown } | null)?.startTime ?? new Date().toISOString()),
});
export const handler = lambdaHandler("ValidateInput", run);
