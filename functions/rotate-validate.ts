import * as z from "zod";
import type { Home } from "./lib/aws.ts";
import type { Config } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { invalidInput } from "./lib/errors.ts";
import { lockExpiry } from "./lib/lock.ts";
import { ACCOUNT_ID, ROLE_NAME, type Target } from "./lib/step.ts";

const STEP = "ValidateRotation";

/**
 * A rotation's input: `{"accountId": "…", "rotate": true}` from the console, the HTTP API or the
 * schedule (which also say who asked). `rotate: true` says on purpose what the run will do.
 */
export const RotationInputSchema = z.strictObject({
  accountId: z.string({ error: "is required" }).regex(ACCOUNT_ID, "must be a 12-digit account id"),
  rotate: z.literal(true, { error: "must be true (a rotation replaces the account's key and password)" }),
  roleName: z.string().regex(ROLE_NAME, "must be an IAM role name").optional(),
  startedBy: z.string().min(1).max(2048).optional(),
});
export type RotationInput = z.output<typeof RotationInputSchema>;

const FIELDS = "accountId, rotate, roleName, startedBy";

const ValidateRotationEvent = z.object({
  input: z.unknown(),
  startTime: z.string().optional(),
  execution: z.string().optional(),
});

/** Refuses a bad input by field (never echoing a value) before anything is read or locked. */
export function validateRotation(
  raw: unknown,
  config: Pick<Config, "defaultTargetRoleName" | "allowedTargetRoleNames">,
): { target: Target; startedBy: string | null } {
  const parsed = RotationInputSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === "unrecognized_keys")
      throw invalidInput("input", `has an unknown field (the input takes only ${FIELDS})`);
    if (issue?.code === "invalid_type" && issue.path.length === 0)
      throw invalidInput("input", "must be object");
    throw invalidInput(String(issue?.path[0] ?? "input"), issue?.message ?? "is not valid");
  }
  const { accountId, roleName = config.defaultTargetRoleName, startedBy } = parsed.data;
  if (!config.allowedTargetRoleNames.includes(roleName)) {
    throw invalidInput(
      "roleName",
      `this deployment may only assume ${config.allowedTargetRoleNames.join(" or ")} (setting TARGET_ROLE_NAMES)`,
    );
  }
  return { target: { accountId, roleName, accountName: `aws-${accountId}` }, startedBy: startedBy ?? null };
}

export const { run, handler } = defineStep({
  name: STEP,
  input: ValidateRotationEvent,
  settings: ["defaultTargetRoleName", "allowedTargetRoleNames"],
  deps: ({ runtime }): { home: Home; config: typeof runtime.config } => ({
    home: runtime,
    config: runtime.config,
  }),
  run: async ({ input, startTime }, deps) => ({
    ...validateRotation(input, deps.config),
    // The same lock as the onboarding's, with the same expiry rule.
    lock: lockExpiry(startTime ?? new Date().toISOString()),
  }),
});
