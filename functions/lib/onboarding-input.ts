import { Ajv, type ErrorObject } from "ajv";
import schema from "../../statemachine/onboarding-input.schema.json" with { type: "json" };
import { isPrintableFieldName } from "./errors.ts";

/** The state machine's input, as statemachine/onboarding-input.schema.json describes it. */
export interface OnboardingInput {
  accountId?: string;
  roleName?: string;
  accountName?: string;
}

/** The schema's fields with their descriptions, so that an error can say what a field is for. */
export const INPUT_FIELDS = schema.properties as Record<string, { description: string }>;
export const FIELD_NAMES = Object.keys(INPUT_FIELDS).join(", ");

const ajv = new Ajv({ allErrors: false, strict: true });
ajv.addSchema(schema);

/** The console's input: every field optional. */
export const validateOnboardingInput = ajv.compile<OnboardingInput>({ $ref: schema.$id });

/** A start from outside the console (event, HTTP) always names the account. */
export const validateStartInput = ajv.compile<OnboardingInput & { accountId: string }>({
  allOf: [{ $ref: schema.$id }, { type: "object", required: ["accountId"] }],
});

/**
 * What is wrong, by field, without the value that is wrong: each way in words it its own way.
 * An unknown field's name is given only when it is plainly a name (it could be a pasted key).
 */
export type InputProblem =
  | { kind: "unknown-field"; field?: string }
  | { kind: "missing"; field: string; about?: string }
  | { kind: "not-an-object" }
  | { kind: "bad-value"; field: string; rule: string; about?: string };

export function inputProblem(error: ErrorObject | undefined): InputProblem {
  if (error?.keyword === "additionalProperties") {
    const field = String(error.params.additionalProperty);
    return isPrintableFieldName(field) ? { kind: "unknown-field", field } : { kind: "unknown-field" };
  }
  if (error?.keyword === "required") {
    const field = String(error.params.missingProperty);
    return { kind: "missing", field, ...about(field) };
  }
  const field = error?.instancePath.replace(/^\//, "") ?? "";
  if (field === "") return { kind: "not-an-object" };
  return { kind: "bad-value", field, rule: error?.message ?? "is not valid", ...about(field) };
}

function about(field: string): { about?: string } {
  const description = INPUT_FIELDS[field]?.description;
  return description === undefined ? {} : { about: description };
}
