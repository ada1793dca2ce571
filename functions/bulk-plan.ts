import { createHash } from "node:crypto";
import { DynamoDBClient as DynamoDB, type DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { OrganizationsClient } from "@aws-sdk/client-organizations";
import * as z from "zod";
import { type BulkInput, BulkInputSchema, SKIP_REASONS, type SkipReason } from "./lib/bulk-input.ts";
import { lambdaClients } from "./lib/clients.ts";
import { readSettings, type SettingsOf } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { describeAwsFailure, invalidInput } from "./lib/errors.ts";
import { parseOrRefuse } from "./lib/input.ts";
import { type Member, walkOrganization } from "./lib/organization-tree.ts";

const STEP = "PlanBulk";

/** The raw input is checked here, field by field, so that a bad one starts nothing. */
const PlanBulkEvent = z.object({ input: z.unknown(), execution: z.string().min(1) });

/** Registry reads in flight at once: well under DynamoDB's on-demand limits, and quick for 10,000. */
const REGISTRY_READS_AT_ONCE = 25;
/** Accounts named per skip reason in the output (all are counted): the state stays small. */
const NAMED_PER_REASON = 20;
/** `<accountId>-bulk-<run>` must fit Step Functions' 80 characters. */
const MAX_RUN_LENGTH = 80 - "123456789012-bulk-".length;

type Settings = SettingsOf<
  "bulkConcurrency" | "allowedAccountIds" | "allowedOuIds" | "allowedTargetRoleNames" | "registryTableName"
>;

export interface BulkPlan {
  /** The accounts to onboard, as plain ids: 10,000 of them stay far under the 256 KB state limit. */
  accounts: string[];
  /** Names every onboarding of this run: `<accountId>-bulk-<run>`, the same on a re-drive. */
  run: string;
  /** The Map's MaxConcurrency (setting BULK_CONCURRENCY). */
  concurrency: number;
  /** What every onboarding's input carries besides its account id. */
  defaults: { roleName?: string; startedBy?: string };
  /** How many accounts of the scope each reason left out, and the first few of them. */
  skipped: Record<SkipReason, number>;
  skippedAccounts: Partial<Record<SkipReason, string[]>>;
}

export interface PlanBulkDeps {
  config: Settings;
  organizations: () => OrganizationsClient;
  dynamodb: () => DynamoDBClient;
}

/**
 * Which accounts a bulk run onboards: the scope (organization, OUs, ids), less the excluded OUs
 * and accounts, the accounts the deployment's allow-lists refuse (AuthorizeTarget would), the
 * accounts not ACTIVE, and the accounts the registry already has `active`. Reads only.
 */
export async function planBulk(raw: unknown, execution: string, deps: PlanBulkDeps): Promise<BulkPlan> {
  const input = parseOrRefuse(BulkInputSchema, raw, STEP);
  const { config } = deps;
  if (input.roleName !== undefined && !config.allowedTargetRoleNames.includes(input.roleName)) {
    const refused = invalidInput("roleName", "must be one of the deployment's TARGET_ROLE_NAMES");
    refused.message = `${STEP}: ${refused.message}`;
    throw refused;
  }
  const skipped = Object.fromEntries(SKIP_REASONS.map((reason) => [reason, 0])) as Record<SkipReason, number>;
  const skippedAccounts: BulkPlan["skippedAccounts"] = {};
  const skip = (accountId: string, reason: SkipReason) => {
    skipped[reason] += 1;
    const named = skippedAccounts[reason] ?? [];
    if (named.length < NAMED_PER_REASON) skippedAccounts[reason] = [...named, accountId];
  };
  const candidates = await candidatesOf(input, deps, skip);
  const accounts = await withoutActive(candidates, deps, skip);
  const defaults = {
    ...(input.roleName === undefined ? {} : { roleName: input.roleName }),
    ...(input.startedBy === undefined ? {} : { startedBy: input.startedBy }),
  };
  return {
    accounts,
    run: runOf(execution),
    concurrency: config.bulkConcurrency,
    defaults,
    skipped,
    skippedAccounts,
  };
}

/** The scope's accounts that pass every list; Organizations is asked only when a list needs it. */
async function candidatesOf(
  input: BulkInput,
  deps: PlanBulkDeps,
  skip: (accountId: string, reason: SkipReason) => void,
): Promise<string[]> {
  const { allowedAccountIds, allowedOuIds } = deps.config;
  const excludedOus = new Set(input.excludeOuIds ?? []);
  const excludedAccounts = new Set(input.excludeAccountIds ?? []);
  const needsOrganization = input.accountIds === undefined || excludedOus.size > 0 || allowedOuIds.length > 0;
  const members = needsOrganization ? await walkOrganization(deps.organizations(), STEP) : undefined;
  const inScope = (member: Member): boolean => {
    if (input.ouIds === undefined) return true;
    const own = member.ous.at(-1);
    if (own !== undefined && input.ouIds.includes(own)) return true;
    return input.includeChildOus === true && member.ous.some((ou) => input.ouIds?.includes(ou));
  };
  const scope =
    input.accountIds !== undefined
      ? [...new Set(input.accountIds)]
      : [...(members ?? new Map<string, Member>())].filter(([, member]) => inScope(member)).map(([id]) => id);
  const listsSet = allowedAccountIds.length > 0 || allowedOuIds.length > 0;
  return scope.filter((accountId) => {
    const member = members?.get(accountId);
    if (members !== undefined && member === undefined) return void skip(accountId, "notInOrganization");
    if (excludedAccounts.has(accountId)) return void skip(accountId, "excludedAccount");
    if (member?.ous.some((ou) => excludedOus.has(ou))) return void skip(accountId, "excludedOu");
    // As AuthorizeTarget decides: listed by id, or directly in an allowed OU.
    const own = member?.ous.at(-1);
    const allowed =
      !listsSet || allowedAccountIds.includes(accountId) || (own !== undefined && allowedOuIds.includes(own));
    if (!allowed) return void skip(accountId, "notAllowed");
    if (member !== undefined && member.state !== "ACTIVE") return void skip(accountId, "notActive");
    return true;
  });
}

/** The candidates whose registry item is not `active`, in their order. */
async function withoutActive(
  candidates: string[],
  deps: PlanBulkDeps,
  skip: (accountId: string, reason: SkipReason) => void,
): Promise<string[]> {
  const dynamodb = deps.dynamodb();
  const active = new Set<string>();
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < candidates.length; i = next++) {
      const accountId = candidates[i] as string;
      const answer = await dynamodb
        .send(
          new GetItemCommand({
            TableName: deps.config.registryTableName,
            Key: { accountId: { S: accountId } },
            ProjectionExpression: "#status",
            ExpressionAttributeNames: { "#status": "status" },
          }),
        )
        .catch((error: unknown) => {
          throw describeAwsFailure(STEP, "GetItem", accountId, error);
        });
      if (answer.Item?.status?.S === "active") active.add(accountId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(REGISTRY_READS_AT_ONCE, candidates.length) }, reader));
  return candidates.filter((accountId) =>
    active.has(accountId) ? void skip(accountId, "alreadyActive") : true,
  );
}

/** The execution's name when it fits the children's names, else a digest of it (same on a re-drive). */
export function runOf(execution: string): string {
  if (execution.length <= MAX_RUN_LENGTH) return execution;
  return createHash("sha256").update(execution).digest("hex").slice(0, 32);
}

export const { run, handler } = defineStep({
  name: STEP,
  input: PlanBulkEvent,
  settings: [
    "bulkConcurrency",
    "allowedAccountIds",
    "allowedOuIds",
    "allowedTargetRoleNames",
    "registryTableName",
  ],
  clients: lambdaClients({ organizations: OrganizationsClient, dynamodb: DynamoDB }),
  deps: ({ runtime }) => ({
    // A local runtime may not carry the bulk setting: its default then, as a deployment's.
    config: { ...readSettings(["bulkConcurrency"], {}), ...runtime.config },
    organizations: () => runtime.clients.organizations(),
    dynamodb: () => runtime.clients.dynamodb(),
  }),
  run: ({ input, execution }, deps) => planBulk(input, execution, deps),
});
