import type * as z from "zod";
import {
  FIELD_NAMES,
  type InputProblem,
  inputProblem,
  type StartInput,
  StartInputSchema,
} from "./onboarding-input.ts";

/*
 * The input of a start from outside the console (an HTTP body, a vending event), checked against
 * the state machine's own input schema: a start refused here would fail ValidateInput too.
 */

export type StartParse = { input: StartInput } | { problem: string };

export function parseStartInput(value: unknown): StartParse {
  // Zod 4 leaves the value out of an issue unless asked, and a field of the wrong type would then
  // read as missing. The value is only compared with undefined, never repeated.
  const parsed = StartInputSchema.safeParse(value, { reportInput: true });
  if (parsed.success) return { input: inFixedOrder(parsed.data) };
  return { problem: describeProblem(inputProblem(parsed.error), parsed.error.issues[0]) };
}

/** The input rebuilt field by field, so that equal starts are equal JSON (Step Functions compares it). */
const inFixedOrder = ({ accountId, roleName, accountName, adopt, plan }: StartInput): StartInput => ({
  accountId,
  ...(roleName === undefined ? {} : { roleName }),
  ...(accountName === undefined ? {} : { accountName }),
  // Only when true: `false` is the default, and equal starts must stay equal JSON.
  ...(adopt ? { adopt } : {}),
  ...(plan ? { plan } : {}),
});

/** The schema's description of a field, without the console's default (a start from here has none). */
const withoutDefault = (about: string | undefined): string | undefined =>
  about?.replace(/ \(default.*\)$/, "");

/** Names the field and the rule it breaks, never the value that broke it. */
function describeProblem(problem: InputProblem, issue: z.core.$ZodIssue | undefined): string {
  switch (problem.kind) {
    case "unknown-field": {
      const named = problem.field === undefined ? "unknown field" : `unknown field "${problem.field}"`;
      return `body: ${named} (the body takes only ${FIELD_NAMES})`;
    }
    case "missing":
      return `${problem.field}: is required: ${withoutDefault(problem.about) ?? problem.field}`;
    case "not-an-object":
      return `body: must be a JSON object with ${FIELD_NAMES}`;
    case "bad-value": {
      const rule = apiRule(issue) ?? problem.rule;
      const description = withoutDefault(problem.about);
      return description ? `${problem.field}: ${rule}: ${description}` : `${problem.field}: ${rule}`;
    }
  }
}

/**
 * The HTTP API has worded a wrong type and a broken pattern this way since its first release
 * (JSON Schema's words); callers may match them, so they stay.
 */
function apiRule(issue: z.core.$ZodIssue | undefined): string | undefined {
  if (issue?.code === "invalid_type") return `must be ${issue.expected}`;
  if (issue?.code === "invalid_format" && issue.format === "regex")
    return `must match pattern ${issue.pattern}`;
  return undefined;
}
