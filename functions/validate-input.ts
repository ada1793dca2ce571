import * as z from "zod";
import type { Home } from "./lib/aws.ts";
import type { Config } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { invalidInput } from "./lib/errors.ts";
import { startedByOf } from "./lib/execution-names.ts";
import { lockExpiry } from "./lib/lock.ts";
import {
  FIELD_NAMES,
  type InputProblem,
  inputProblem,
  OnboardingInputSchema,
} from "./lib/onboarding-input.ts";
import type { Target } from "./lib/step.ts";

export type { OnboardingInput } from "./lib/onboarding-input.ts";

/** The state hands the execution's input as it came; this step is what checks it. */
const ValidateInputEvent = z.object({
  input: z.unknown(),
  /** `$$.Execution.StartTime`: when the execution began. */
  startTime: z.string().optional(),
  /** `$$.Execution.Name`: the starters name their runs by origin (see startedByOf). */
  execution: z.string().optional(),
});

/**
 * The first state: refuses a bad input before anything is created, with an error that names
 * the field. Values are never echoed back: a field the schema does not know may hold anything.
 */
export function validateInput(
  raw: unknown,
  deps: { home: Home; config: Pick<Config, "defaultTargetRoleName" | "allowedTargetRoleNames"> },
  execution?: string,
): { target: Target; steps: Record<string, never>; startedBy: string | null } {
  const parsed = OnboardingInputSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw invalidInput(...describe(inputProblem(parsed.error)));
  const input = parsed.data;
  const accountId = input.accountId ?? deps.home.accountId;
  const roleName = input.roleName ?? deps.config.defaultTargetRoleName;
  if (!deps.config.allowedTargetRoleNames.includes(roleName)) {
    throw invalidInput(
      "roleName",
      `this deployment may only assume ${deps.config.allowedTargetRoleNames.join(" or ")} (setting TARGET_ROLE_NAMES)`,
    );
  }
  // Null, not absent: the states after this one read `$.startedBy`, and a missing path fails.
  const startedBy =
    input.startedBy ?? (execution === undefined ? undefined : startedByOf(accountId, execution)) ?? null;
  return {
    target: {
      accountId,
      roleName,
      accountName: input.accountName ?? `aws-${accountId}`,
      // Only when true, so that the states can test their presence.
      ...(input.adopt ? { adopt: true as const } : {}),
      ...(input.plan ? { plan: true as const } : {}),
    },
    steps: {},
    startedBy,
  };
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

export const { run, handler } = defineStep({
  name: "ValidateInput",
  input: ValidateInputEvent,
  settings: ["defaultTargetRoleName", "allowedTargetRoleNames"],
  deps: ({ runtime }) => ({ home: runtime, config: runtime.config }),
  run: async ({ input, startTime, execution }, deps) => ({
    ...validateInput(input, deps, execution),
    // The account lock's expiry comes from the execution's start; a direct invocation has none,
    // and now is as good (a run enters this state within a second of its start).
    lock: lockExpiry(startTime ?? new Date().toISOString()),
  }),
});
