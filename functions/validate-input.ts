import { Ajv, type ErrorObject } from "ajv";
import schema from "../statemachine/onboarding-input.schema.json" with { type: "json" };
import type { Home } from "./lib/aws.ts";
import type { Config } from "./lib/config.ts";
import { invalidInput, isPrintableFieldName } from "./lib/errors.ts";
import { lambdaHandler, type StepRun } from "./lib/handler.ts";
import type { Target } from "./lib/step.ts";

export interface OnboardingInput {
  accountId?: string;
  roleName?: string;
  accountName?: string;
}

const validator = new Ajv({ allErrors: false, strict: true }).compile<OnboardingInput>(schema);

/** Field descriptions from the schema, so that an error says what the field is for. */
const FIELDS = schema.properties as Record<string, { description: string }>;

/**
 * The first state: refuses a bad input before anything is created, with an error that names
 * the field. Values are never echoed back: a field the schema does not know may hold anything.
 */
export function validateInput(
  raw: unknown,
  deps: { home: Home; config: Pick<Config, "defaultTargetRoleName" | "allowedTargetRoleNames"> },
): { target: Target; steps: Record<string, never> } {
  if (!validator(raw)) throw invalidInput(...describe(validator.errors?.[0]));
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

function describe(error: ErrorObject | undefined): [string, string] {
  if (!error) return ["input", "is not valid"];
  if (error.keyword === "additionalProperties") {
    const field = String(error.params.additionalProperty);
    const fields = Object.keys(FIELDS).join(", ");
    if (!isPrintableFieldName(field))
      return ["input", `has an unknown field (the input takes only ${fields})`];
    return [field, `unknown field (the input takes only ${fields})`];
  }
  const field = error.instancePath.replace(/^\//, "") || "input";
  const about = FIELDS[field]?.description;
  return [field, about ? `${error.message ?? "is not valid"}: ${about}` : (error.message ?? "is not valid")];
}

export const run: StepRun<ReturnType<typeof validateInput>> = async (event, runtime) =>
  validateInput((event as { input?: unknown } | null)?.input, { home: runtime, config: runtime.config });
export const handler = lambdaHandler("ValidateInput", run);
