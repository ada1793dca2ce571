import * as z from "zod";
import { isPrintableFieldName } from "./errors.ts";
import { describeIssue, type InputIssue } from "./input.ts";
import { ACCOUNT_ID, ROLE_NAME } from "./step.ts";

/** The principals API Gateway's IAM authorizer reports: users, roles and their sessions. */
export const STARTED_BY_ARN =
  /^arn:aws[a-z-]*:(iam|sts)::\d{12}:(root|(user|role|assumed-role|federated-user)\/[\w+=,.@/-]{1,512})$/;

/*
 * The state machine's input, once. statemachine/onboarding-input.schema.json is generated from
 * it (`npm run schema`) for the console and for users; a test keeps the two equal.
 */

const FIELDS = {
  accountId: z
    .string()
    .regex(ACCOUNT_ID, "must match pattern ^\\d{12}$ (12 digits)")
    .describe("the 12-digit id of the AWS account to onboard (default: the account the stack runs in)"),
  roleName: z
    .string()
    .regex(ROLE_NAME, "must match pattern ^[\\w+=,.@-]{1,64}$ (an IAM role name)")
    .describe("the role to assume in that account (default: OrganizationAccountAccessRole)"),
  accountName: z
    .string()
    .min(1, "must not be empty")
    .max(100, "must be at most 100 characters")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    .regex(/^[^\u0000-\u001f]+$/, "must not contain control characters")
    .describe("the name the account gets in Redis Cloud (default: aws-<accountId>)"),
  adopt: z
    .boolean()
    .describe(
      "take over resources that exist but differ from what Redis requires; their state before is recorded and given back if the run fails (default: false, the run stops with ForeignResource)",
    ),
  plan: z
    .boolean()
    .describe(
      "only read: answer the writes a run would make, with documents before and after (default: false)",
    ),
};

/**
 * Who asked for the run, as the HTTP API's IAM authorizer names the caller. Not one of the
 * fields a user is told about: a console start may set it, but then it is only that user's word.
 */
const STARTED_BY = z
  .string()
  .regex(STARTED_BY_ARN, "must be an IAM or STS principal ARN")
  .describe("the IAM principal that started the run (set by the HTTP API from its caller)");

export const OnboardingInputSchema = z
  .strictObject({
    accountId: FIELDS.accountId.optional(),
    roleName: FIELDS.roleName.optional(),
    accountName: FIELDS.accountName.optional(),
    adopt: FIELDS.adopt.optional(),
    plan: FIELDS.plan.optional(),
    startedBy: STARTED_BY.optional(),
  })
  .meta({
    title: "Redis Cloud BYOC onboarding input",
    description: "Input of the onboarding state machine. {} onboards the AWS account the stack runs in.",
  });
export type OnboardingInput = z.output<typeof OnboardingInputSchema>;

/**
 * A start from outside the console (event, HTTP) always names the account; its caller cannot say
 * who it is: the HTTP API sets `startedBy` from the authorizer, after this check.
 */
export const StartInputSchema = OnboardingInputSchema.omit({ startedBy: true }).extend({
  accountId: FIELDS.accountId,
});
export type StartInput = z.output<typeof StartInputSchema>;

/** The fields with what each is for, so that an error can say it. */
export const INPUT_FIELDS: Record<string, string> = Object.fromEntries(
  Object.entries({ ...FIELDS, startedBy: STARTED_BY }).map(([name, schema]) => [
    name,
    schema.description ?? "",
  ]),
);
export const FIELD_NAMES = Object.keys(FIELDS).join(", ");

/**
 * What is wrong, by field, without the value that is wrong: each way in words it its own way.
 * An unknown field's name is given only when it is plainly a name (it could be a pasted key).
 */
export type InputProblem =
  | { kind: "unknown-field"; field?: string }
  | { kind: "missing"; field: string; about?: string }
  | { kind: "not-an-object" }
  | { kind: "bad-value"; field: string; rule: string; about?: string };

export function inputProblem(error: z.ZodError): InputProblem {
  const issue = error.issues[0];
  if (issue?.code === "unrecognized_keys") {
    const field = issue.keys.find(isPrintableFieldName);
    return field === undefined ? { kind: "unknown-field" } : { kind: "unknown-field", field };
  }
  const { field, problem }: InputIssue = describeIssue(issue);
  if (field === "input") return { kind: "not-an-object" };
  if (problem === "is required") return { kind: "missing", field, ...about(field) };
  return { kind: "bad-value", field, rule: problem, ...about(field) };
}

function about(field: string): { about?: string } {
  const description = INPUT_FIELDS[field];
  return description === undefined ? {} : { about: description };
}
