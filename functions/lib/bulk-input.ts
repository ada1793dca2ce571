import * as z from "zod";
import { OU_ID } from "./config.ts";
import { STARTED_BY_ARN } from "./onboarding-input.ts";
import { ACCOUNT_ID, ROLE_NAME } from "./step.ts";

/*
 * The bulk onboarding's input: which accounts (the whole organization, some OUs, or a list of
 * ids), what to leave out, and what each onboarding gets. A refusal names the field, never a value.
 */

/** Step Functions' Distributed Map handles 10,000 children at once; a bulk run lists no more. */
export const MAX_BULK_ACCOUNTS = 10_000;

const accountId = z.string().regex(ACCOUNT_ID, "must be a 12-digit account id");
const ouId = z.string().regex(OU_ID, "must be an OU id (ou-xxxx-yyyyyyyy)");

export const BulkInputSchema = z
  .strictObject({
    organization: z
      .literal(true, { error: "must be true (every ACTIVE account of the organization)" })
      .optional(),
    ouIds: z
      .array(ouId)
      .min(1, "must list at least one OU id")
      .max(1000, "must list at most 1000 OU ids")
      .optional(),
    includeChildOus: z.boolean().optional(),
    accountIds: z
      .array(accountId)
      .min(1, "must list at least one account id")
      .max(MAX_BULK_ACCOUNTS, `must list at most ${MAX_BULK_ACCOUNTS} account ids`)
      .optional(),
    excludeOuIds: z.array(ouId).max(1000, "must list at most 1000 OU ids").optional(),
    excludeAccountIds: z
      .array(accountId)
      .max(MAX_BULK_ACCOUNTS, `must list at most ${MAX_BULK_ACCOUNTS} account ids`)
      .optional(),
    roleName: z
      .string()
      .regex(ROLE_NAME, "must match pattern ^[\\w+=,.@-]{1,64}$ (an IAM role name)")
      .optional(),
    startedBy: z.string().regex(STARTED_BY_ARN, "must be an IAM or STS principal ARN").optional(),
  })
  .superRefine((input, ctx) => {
    const scopes = [input.organization, input.ouIds, input.accountIds].filter((scope) => scope !== undefined);
    if (scopes.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message: "must name exactly one of organization, ouIds, accountIds",
      });
    }
    if (input.includeChildOus !== undefined && input.ouIds === undefined) {
      ctx.addIssue({ code: "custom", path: ["includeChildOus"], message: "applies only with ouIds" });
    }
  });
export type BulkInput = z.output<typeof BulkInputSchema>;

/** Why an account of the scope is not onboarded; each is counted in the summary. */
export const SKIP_REASONS = [
  "alreadyActive",
  "excludedAccount",
  "excludedOu",
  "notAllowed",
  "notActive",
  "notInOrganization",
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];
