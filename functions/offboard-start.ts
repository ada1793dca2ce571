import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeAccountCommand, OrganizationsClient } from "@aws-sdk/client-organizations";
import * as z from "zod";
import { lambdaClients } from "./lib/clients.ts";
import { REGISTRY_SETTINGS } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { describeAwsFailure } from "./lib/errors.ts";
import { GONE_STATES, nothingLeft } from "./lib/offboarding.ts";
import { logger } from "./lib/powertools.ts";
import { Registry } from "./lib/registry.ts";
import { StepInputSchema } from "./lib/step.ts";
import { cloudAccountOf } from "./offboard-at-redis.ts";

const STEP = "OffboardStart";

/*
 * Reads only, before anything changes: whether the registry holds anything of the product's for
 * the account (an account never onboarded, or offboarded already, has nothing to offboard), and
 * whether the account can still be entered (Organizations' `State`: a suspended or closing
 * account's IAM resources go with it, and no role can be assumed there).
 */

export const OffboardStartInputSchema = z.object({ ...StepInputSchema.shape });

export interface OffboardStartResult {
  nothing: boolean;
  /** False: skip IAM (the account is suspended or closing). */
  reachable: boolean;
  /** Organizations' word, or null when it could not tell (not a member, no access). */
  state: string | null;
  cloudAccountId: number | null;
}

export interface OffboardStartDeps {
  registry: Pick<Registry, "get">;
  organizations: () => Pick<OrganizationsClient, "send">;
}

export async function offboardStart(
  input: z.output<typeof OffboardStartInputSchema>,
  deps: OffboardStartDeps,
): Promise<OffboardStartResult> {
  const { accountId } = input.target;
  const item = await deps.registry.get(accountId);
  const cloudAccountId = cloudAccountOf(item) ?? null;
  if (nothingLeft(item)) return { nothing: true, reachable: true, state: null, cloudAccountId };
  const state = await accountState(accountId, deps);
  const reachable = !(GONE_STATES as readonly string[]).includes(state ?? "");
  return { nothing: false, reachable, state, cloudAccountId };
}

/**
 * `State` (Organizations dropped the older `Status` in 2026). An account that left the organization,
 * or a deployment without Organizations access, answers null: its role is tried as usual.
 */
async function accountState(accountId: string, deps: OffboardStartDeps): Promise<string | null> {
  try {
    const answer = await deps.organizations().send(new DescribeAccountCommand({ AccountId: accountId }));
    return answer.Account?.State ?? null;
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    if (
      ["AccountNotFoundException", "AccessDeniedException", "AWSOrganizationsNotInUseException"].includes(
        name,
      )
    ) {
      logger.info("offboarding: account state unknown", { accountId, reason: name });
      return null;
    }
    throw describeAwsFailure(STEP, "DescribeAccount", accountId, error);
  }
}

export const { run, handler } = defineStep({
  name: STEP,
  input: OffboardStartInputSchema,
  settings: REGISTRY_SETTINGS,
  clients: lambdaClients({ dynamodb: DynamoDBClient, organizations: OrganizationsClient }),
  deps: ({ runtime, step }): OffboardStartDeps => ({
    registry: new Registry(runtime.clients.dynamodb(), runtime.config.registryTableName, step),
    organizations: () => runtime.clients.organizations(),
  }),
  run: offboardStart,
});
