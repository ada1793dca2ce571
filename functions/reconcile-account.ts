import { createHash } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  type IAMClient as IAM,
  IAMClient,
  ListAccessKeysCommand,
  type ListAccessKeysCommandOutput,
} from "@aws-sdk/client-iam";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { STSClient } from "@aws-sdk/client-sts";
import * as z from "zod";
import { type Home, targetIam } from "./lib/aws.ts";
import { lambdaClients } from "./lib/clients.ts";
import { type Config, SECRET_SETTINGS, type SettingsOf, TARGET_SETTINGS, USER_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { type Drift, driftOfPlan, unique } from "./lib/drift.ts";
import { describeAwsFailure } from "./lib/errors.ts";
import { emitFleetMetric } from "./lib/fleet-metrics.ts";
import { logger } from "./lib/powertools.ts";
import { ReconcileRegistry } from "./lib/reconcile-registry.ts";
import { NOT_LISTED } from "./lib/registrar-look.ts";
import { Registry, type RegistryItem } from "./lib/registry.ts";
import { ACCOUNT_ID, isNotFound, ROLE_NAME, type StepInput } from "./lib/step.ts";
import type { AccountOutcome } from "./list-reconcile-page.ts";
import { planOnboarding } from "./plan-onboarding.ts";

const STEP = "ReconcileAccount";

export const ReconcileAccountInputSchema = z.object({
  account: z.object({
    accountId: z.string().regex(ACCOUNT_ID, "must be a 12-digit account id"),
    roleName: z.string().regex(ROLE_NAME, "must be an IAM role name"),
    accountName: z.string().min(1).optional(),
    cloudAccountId: z.number().int().positive().optional(),
  }),
  /** The page's look at Redis (through the registrar): each cloud account's status, by id. */
  cloudAccounts: z.record(z.string(), z.string()).default({}),
  /** The look failed: the cloud accounts' statuses are unknown, and not judged. */
  lookUnavailable: z.boolean().default(false),
  repairDrift: z.boolean().default(false),
  /** The reconcile's execution: it names the repair's onboarding. */
  execution: z.string().min(1),
  /** Set after a repair: how the onboarding ended; the account is read again and recorded. */
  repaired: z
    .object({
      execution: z.string().min(1),
      outcome: z.enum(["succeeded", "failed"]),
      error: z.string().optional(),
    })
    .optional(),
});
export type ReconcileAccountInput = z.output<typeof ReconcileAccountInputSchema>;

export interface ReconcileAccountResult {
  accountId: string;
  outcome: AccountOutcome | "skipped";
  drifted: boolean;
  /** Each difference found: what the event names (ids and names only). */
  differences: Drift[];
  /** Set when the drift is one the normal onboarding repairs and the reconcile was asked to. */
  repair?: { name: string; input: { accountId: string; roleName: string; accountName?: string } };
  skipped?: string;
}

export interface ReconcileAccountDeps {
  iam: IAM;
  home: Home;
  secrets: SecretsManagerClient;
  config: Pick<Config, "secretNamePrefix" | "consoleRolePolicyName"> &
    Partial<SettingsOf<"credentialsKeyArn" | "secretReaderArns">>;
  /** Read by the plan (what the product owns); the plan writes nothing there. */
  registry: Registry;
  reconciled: Pick<ReconcileRegistry, "get" | "record">;
  now: () => Date;
}

/**
 * Reconciles one onboarded account without writing to it: the onboarding's own steps run in plan
 * mode (the writes a run would make are the differences), the key Redis uses is looked up, and the
 * cloud account's status comes from the page's shared look. The registry records the result
 * (`reconciledAt`, `drift`, empty when clean); a drifted account counts once in DriftDetected.
 */
export async function reconcileAccount(
  input: ReconcileAccountInput,
  deps: ReconcileAccountDeps,
): Promise<ReconcileAccountResult> {
  const { accountId } = input.account;
  const item = await deps.reconciled.get(accountId);
  if (item?.status !== "active") {
    const skipped = `its registry status is ${item?.status ?? "(no item)"}, not active`;
    return { accountId, outcome: "skipped", drifted: false, differences: [], skipped };
  }
  const drift = unique([
    ...(await accountDrift(input, item, deps)),
    ...(input.repaired ? [] : cloudAccountDrift(input, item)),
  ]);
  const repaired = input.repaired;
  await deps.reconciled.record(item, {
    reconciledAt: deps.now().toISOString(),
    drift,
    ...(repaired
      ? {
          repair: {
            execution: repaired.execution,
            outcome: repaired.outcome,
            ...(repaired.error ? { error: repaired.error } : {}),
          },
        }
      : {}),
  });
  const drifted = drift.length > 0;
  if (repaired) {
    const outcome = repaired.outcome === "succeeded" && !drifted ? "repaired" : "repairFailed";
    logger.info("reconcile: repair checked", { accountId, outcome, differences: drift.length });
    return { accountId, outcome, drifted, differences: drift };
  }
  if (!drifted) return { accountId, outcome: "clean", drifted, differences: [] };
  emitFleetMetric("driftDetected");
  logger.warn("reconcile: drift detected", { accountId, kinds: [...new Set(drift.map((d) => d.kind))] });
  const repairable = drift.some((d) => d.kind !== "ForeignResource");
  return {
    accountId,
    outcome: "drifted",
    drifted,
    differences: drift,
    ...(input.repairDrift && repairable ? { repair: repairOf(input) } : {}),
  };
}

/** What the account's IAM resources and credentials would need from a run. */
async function accountDrift(
  input: ReconcileAccountInput,
  item: RegistryItem,
  deps: ReconcileAccountDeps,
): Promise<Drift[]> {
  const { accountId, roleName, accountName } = input.account;
  const step: StepInput = {
    target: { accountId, roleName, accountName: accountName ?? "", plan: true },
    execution: input.execution,
  };
  const plan = await planOnboarding(step, deps);
  const writes = plan.writes.length > 0 ? plan.writes : (plan.writesIfAdopted ?? []);
  const found = driftOfPlan(writes, plan.foreign);
  const key = await keyDrift(item, deps.iam);
  // The key Redis uses, named by what happened to it; the plan's "new key" says the same.
  return key ? [...found.filter((d) => d.kind !== "AccessKeyMissing"), key] : found;
}

/** The key Redis uses (the registry's) deleted from the user, or deactivated. */
async function keyDrift(item: RegistryItem, iam: IAM): Promise<Drift | undefined> {
  const accessKeyId = item.accessKeyId;
  if (!accessKeyId) return undefined;
  let listed: ListAccessKeysCommandOutput;
  try {
    listed = await iam.send(new ListAccessKeysCommand({ UserName: USER_NAME }));
  } catch (error) {
    // No user: the plan names it (UserMissing), and the key with it.
    if (isNotFound(error)) return undefined;
    throw describeAwsFailure(STEP, "ListAccessKeys", USER_NAME, error);
  }
  const key = (listed.AccessKeyMetadata ?? []).find((k) => k.AccessKeyId === accessKeyId);
  const resource = `access key ${accessKeyId} of ${USER_NAME}`;
  if (!key) return { kind: "AccessKeyMissing", resource, detail: "the key Redis uses was deleted" };
  if (key.Status !== "Active") {
    return {
      kind: "AccessKeyInactive",
      resource,
      detail: `the key Redis uses is ${key.Status ?? "not active"}`,
    };
  }
  return undefined;
}

/** Redis's word on the cloud account, from the page's one look. */
function cloudAccountDrift(input: ReconcileAccountInput, item: RegistryItem): Drift[] {
  const id = item.cloudAccountId;
  if (input.lookUnavailable || id === undefined) return [];
  const status = input.cloudAccounts[String(id)];
  if (status === undefined || status === "active") return [];
  const detail =
    status === NOT_LISTED ? "Redis Cloud no longer lists it" : `Redis Cloud says it is ${status}`;
  return [{ kind: "CloudAccountNotActive", resource: `cloud account ${id}`, detail }];
}

/** The normal onboarding of the account, under a name of this reconcile's (a retry starts it once). */
function repairOf(input: ReconcileAccountInput): NonNullable<ReconcileAccountResult["repair"]> {
  const { accountId, roleName, accountName } = input.account;
  const of = createHash("sha256").update(input.execution).digest("hex").slice(0, 12);
  return {
    name: `${accountId}-reconcile-${of}`,
    input: { accountId, roleName, ...(accountName ? { accountName } : {}) },
  };
}

export const { run, handler } = defineStep({
  name: STEP,
  input: ReconcileAccountInputSchema,
  settings: [...TARGET_SETTINGS, ...SECRET_SETTINGS, "consoleRolePolicyName"],
  clients: lambdaClients({
    iam: IAMClient,
    sts: STSClient,
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
  }),
  deps: async ({ input, runtime, step }): Promise<ReconcileAccountDeps> => {
    const { accountId, roleName, accountName } = input.account;
    const target = {
      target: { accountId, roleName, accountName: accountName ?? "" },
      execution: input.execution,
    };
    const dynamodb = runtime.clients.dynamodb();
    return {
      iam: await targetIam(runtime, target, step),
      home: { partition: runtime.partition, region: runtime.region, accountId: runtime.accountId },
      secrets: runtime.clients.secrets(),
      config: runtime.config,
      registry: new Registry(dynamodb, runtime.config.registryTableName, step),
      reconciled: new ReconcileRegistry(dynamodb, runtime.config.registryTableName, step),
      now: () => new Date(),
    };
  },
  run: reconcileAccount,
});
