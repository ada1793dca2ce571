import * as z from "zod";
import { WorkflowError } from "./errors.ts";
import type { Registry, RegistryItem } from "./registry.ts";
import type { Change } from "./step.ts";

/*
 * What the offboarding's steps share: the registry item they act on (this execution's running
 * offboarding, never another run's), the account states in which no role can be assumed, and the
 * report each step adds to the registry's record of the offboarding.
 */

/** Organizations' `State` of an account that no longer answers: its IAM resources went with it. */
export const GONE_STATES = ["SUSPENDED", "PENDING_CLOSURE", "CLOSED"] as const;

/** What was not done, with why: an operator reads these. */
export const NotDoneSchema = z.object({ resource: z.string(), reason: z.string() });
export type NotDone = z.output<typeof NotDoneSchema>;

/** The IAM teardown's report (RemoveIamResources). */
export interface IamReport {
  removed: string[];
  /** Recorded by the product, but changed since by someone else: left as it is. */
  kept: NotDone[];
  /** Adopted resources returned to the state they were found in. */
  gaveBack: string[];
  /** Adopted resources that cannot be returned as they were (a reset password). */
  cannotGiveBack: NotDone[];
}

/** Secret changes are the secret step's: scheduled for deletion, never removed at once. */
export const SECRET_CHANGES = new Set<Change["type"]>(["Secret", "SecretValue", "SecretPolicy", "SecretTag"]);

/** The item, when this execution is offboarding the account; anything else is not its to touch. */
export async function offboardingRun(
  registry: Pick<Registry, "get">,
  accountId: string,
  execution: string,
  step: string,
): Promise<RegistryItem> {
  const item = await registry.get(accountId);
  if (item?.lastExecution === execution && item.lastOutcome === "running" && item.status === "offboarding") {
    return item;
  }
  const holder = item ? `${item.lastExecution} (${item.status}, ${item.lastOutcome})` : "no run";
  throw new WorkflowError(
    "ResourceConflict",
    `${step}: the registry names ${holder} as the last run of account ${accountId}, not the offboarding ${execution}`,
  );
}

/** Nothing of the product's is left: no cloud account, no recorded resource, no secret. */
export function nothingLeft(item: RegistryItem | undefined): boolean {
  if (!item) return true;
  const atRedis = item.cloudAccountId !== undefined || item.registration?.cloudAccountId !== undefined;
  return item.status === "offboarded" ? item.resources.length === 0 : !atRedis && item.resources.length === 0;
}
