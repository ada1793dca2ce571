import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  DeleteAccessKeyCommand,
  DeleteInstanceProfileCommand,
  DeleteLoginProfileCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteRoleCommand,
  DeleteUserCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetRoleCommand,
  GetUserCommand,
  type IAMClient,
  ListAccessKeysCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListInstanceProfilesForRoleCommand,
  ListPolicyVersionsCommand,
  RemoveRoleFromInstanceProfileCommand,
  SetDefaultPolicyVersionCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import {
  DeleteResourcePolicyCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutResourcePolicyCommand,
  type SecretsManagerClient,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import * as z from "zod";

import type { Home } from "./lib/aws.ts";
import {
  CONSOLE_ROLE_NAME,
  type Config,
  INSTANCE_POLICY_NAME,
  NODE_ROLE_NAME,
  USER_NAME,
  USER_POLICY_NAME,
} from "./lib/config.ts";
import { secretName } from "./lib/credentials-secret.ts";
import { defineStep } from "./lib/define-step.ts";
import { retryTransient } from "./lib/errors.ts";
import { identityOf } from "./lib/ownership.ts";
import { policyArn } from "./lib/policies.ts";
import { logger } from "./lib/powertools.ts";
import type { RegistrationRecord, Registry, RegistryItem } from "./lib/registry.ts";
import { type CheckContext, checkChange } from "./lib/rollback-checks.ts";
import { type Change, StepInputSchema, StepRecorder } from "./lib/step.ts";
import { targetDeps, targetStepWithSecrets } from "./lib/target-step.ts";

const STEP = "Rollback";

/**
 * All the rollback takes: the account and the execution. What to undo, in AWS and at Redis, it
 * reads from the registry, never from its input: unknown fields (a change list, a state naming a
 * cloud account) are refused.
 */
const WithdrawalSchema = z.object({
  undone: z.array(z.string()),
  leftBehind: z.array(z.object({ change: z.string(), error: z.string() })),
});

export const RollbackInputSchema = z.strictObject({
  ...StepInputSchema.shape,
  /**
   * The registrar's withdrawal of this run's cloud account (WithdrawRegistration's answer), or
   * its failure. Absent or failed, a cloud account this run registered may still hold its key.
   */
  atRedis: z
    .union([WithdrawalSchema, z.object({ Error: z.string(), Cause: z.string().optional() })])
    .optional(),
});
export type RollbackInput = z.output<typeof RollbackInputSchema>;

export interface RollbackResult {
  undone: string[];
  /** What could not be undone, with why: an operator has to look at these. */
  leftBehind: { change: string; error: string }[];
  /** Why nothing at all was undone: the registry does not name this execution as the running one. */
  refused?: string;
}

export interface RollbackDeps {
  iam: IAMClient;
  secrets: SecretsManagerClient;
  home: Home;
  config: Pick<Config, "secretNamePrefix">;
  registry: Pick<Registry, "get" | "forget">;
}

/**
 * Undoes, newest first, exactly what this execution changed: what it recorded in the registry,
 * each checked to be still this run's (its tag, or the state it recorded), plus any of the fixed
 * resources that carry this execution's tag (made by a step that failed before it could record).
 * It acts only while the registry names this execution as the account's running one: a crafted
 * invocation for another or a finished run undoes nothing. Never throws for one failed undo: it
 * goes on with the rest and reports what is left behind.
 */
export async function rollback(input: RollbackInput, deps: RollbackDeps): Promise<RollbackResult> {
  const rec = new StepRecorder(STEP, input.execution);
  const result: RollbackResult = { undone: [], leftBehind: [] };
  const run = await thisRun(input, deps, result);
  if (!run) return result;
  const recorded = run.resources.filter((e) => e.execution === input.execution && e.origin !== "adopted");
  const tagged = await taggedByThisRun(input, deps, rec, result);
  const changes = dedupe([...recorded.map((entry) => entry.change), ...tagged]);
  // The cloud account went first (the registrar's withdrawal): one it could not delete keeps its key.
  const ctx = { ...deps, accountId: input.target.accountId, rec };
  const inUse = keyGivenToRedis(run) ?? withdrawn(ownRegistration(run, input.execution), input, result);
  const undone: Change[] = [];
  for (const change of undoOrder(changes)) {
    const kept = inUse && keepsKey(change, inUse);
    if (kept) result.leftBehind.push({ change: describe(change), error: kept });
    else if (await undoChecked(change, ctx, result)) undone.push(change);
  }
  undone.push(...givenBack(run, input.execution, changes, undone));
  await forgetUndone(input, deps, undone, result);
  if (result.leftBehind.length > 0) logger.warn("rollback left resources behind", { ...result });
  return result;
}

/**
 * This run's adoptions whose every change was undone: the resource is as it was found, and no
 * longer the product's. A reset password cannot be given back, and does not keep it adopted.
 */
function givenBack(run: RegistryItem, execution: string, changes: Change[], undone: Change[]): Change[] {
  const left = new Set(
    changes.filter((c) => c.type !== "LoginProfilePassword" && !undone.includes(c)).map((c) => identityOf(c)),
  );
  return run.resources
    .filter((e) => e.execution === execution && e.origin === "adopted" && !left.has(identityOf(e.change)))
    .map((e) => e.change);
}

const reasonOf = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** The registry item, when it names this execution as the account's running one; else nothing. */
async function thisRun(input: RollbackInput, deps: RollbackDeps, result: RollbackResult) {
  const { accountId } = input.target;
  let item: RegistryItem | undefined;
  try {
    item = await deps.registry.get(accountId);
  } catch (error) {
    // Without the registry there is no telling this run's records from anyone's: touch nothing.
    result.leftBehind.push({
      change: `whatever this run made in account ${accountId}`,
      error: reasonOf(error),
    });
    return undefined;
  }
  if (item?.lastExecution === input.execution && item.lastOutcome === "running") return item;
  result.refused = item
    ? `the registry names ${item.lastExecution} (${item.lastOutcome}) as the last run of account ${accountId}, not ${input.execution}`
    : `the registry holds no run of account ${accountId}: ${input.execution} created nothing`;
  logger.warn("rollback refused", { refused: result.refused });
  return undefined;
}

/** Undoes one change if it is still this run's; answers whether it is undone (or was gone). */
async function undoChecked(change: Change, ctx: CheckContext & RollbackDeps, result: RollbackResult) {
  const label = describe(change);
  try {
    const verdict = await checkChange(change, ctx);
    if (typeof verdict === "object") {
      result.leftBehind.push({ change: label, error: `ResourceConflict: ${STEP}: ${verdict.refused}` });
      return false;
    }
    // What is left behind should be what could not be done, not what was throttled once.
    if (verdict === "undo") await retryTransient(() => undo(change, ctx, ctx.rec));
    result.undone.push(label);
    return true;
  } catch (error) {
    result.leftBehind.push({ change: label, error: reasonOf(error) });
    return false;
  }
}

/** What was undone is no longer the product's: the registry stops listing it. */
async function forgetUndone(
  input: RollbackInput,
  deps: RollbackDeps,
  undone: Change[],
  result: RollbackResult,
) {
  if (undone.length === 0) return;
  try {
    await deps.registry.forget(input.target.accountId, input.execution, undone);
  } catch (error) {
    result.leftBehind.push({ change: "the registry's records of what was undone", error: reasonOf(error) });
  }
}

/** The key an update asked Redis to use, with the cloud account and task that name it. */
interface KeyInUse {
  accessKeyId: string;
  cloudAccountId?: number | undefined;
  taskId?: string | undefined;
}

/**
 * The key a registration of kind update gave Redis. Redis may be on it from the moment the PUT
 * was sent, whatever the task says now, and its cloud account is not the run's to delete: the
 * key stays, or Redis would be left on a dead one.
 */
const keyGivenToRedis = (item: RegistryItem): KeyInUse | undefined =>
  item.registration?.kind === "update" ? item.registration : undefined;

/** Why a change that would delete the key Redis was given is left as it is; undefined: undo it. */
function keepsKey(change: Change, key: KeyInUse): string | undefined {
  const deletesKey =
    (change.type === "AccessKey" && change.accessKeyId === key.accessKeyId) ||
    // Deleting the user deletes its keys first.
    (change.type === "User" && change.name === USER_NAME);
  if (!deletesKey) return undefined;
  const task = key.taskId ? ` (task ${key.taskId})` : "";
  return `KeyInUse: ${STEP}: access key ${key.accessKeyId} was given to Redis Cloud cloud account ${key.cloudAccountId ?? "(unknown)"}${task}, which may already use it; delete it only once Redis uses another key`;
}

/**
 * The withdrawal's report, added to the rollback's. While the cloud account this run registered
 * may still exist (not withdrawn, or the withdrawal failed), Redis may be using the run's key:
 * that key stays.
 */
function withdrawn(
  registration: RegistrationRecord | undefined,
  input: RollbackInput,
  result: RollbackResult,
): KeyInUse | undefined {
  const { atRedis } = input;
  if (atRedis && "undone" in atRedis) {
    result.undone.push(...atRedis.undone);
    result.leftBehind.push(...atRedis.leftBehind);
  }
  if (!registration) return undefined;
  if (atRedis && "undone" in atRedis && atRedis.leftBehind.length === 0) return undefined;
  if (!atRedis || !("undone" in atRedis)) {
    const why = atRedis ? `${atRedis.Error}: ${atRedis.Cause ?? ""}` : "no withdrawal was made";
    result.leftBehind.push({
      change: `CloudAccount ${registration.cloudAccountId ?? `of task ${registration.taskId ?? "(unknown)"}`}`,
      error: `not withdrawn at Redis Cloud (${why.trim()}): delete it at Redis, then the key`,
    });
  }
  return registration;
}

/** The registration this execution asked Redis for; one it found existing is never its to delete. */
const ownRegistration = (item: RegistryItem, execution: string) =>
  item.registration?.execution === execution && item.registration.origin === "created"
    ? item.registration
    : undefined;

/** Resources made by this execution whose step failed before it could report them. */
async function taggedByThisRun(
  input: RollbackInput,
  deps: RollbackDeps,
  rec: StepRecorder,
  result: RollbackResult,
): Promise<Change[]> {
  const { iam, home } = deps;
  const account = input.target.accountId;
  const found: Change[] = [];
  // Each look stands alone: one refused read must not keep the rollback from the rest.
  const look = async (what: string, check: () => Promise<Change | undefined>) => {
    try {
      const change = await check();
      if (change) found.push(change);
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      result.leftBehind.push({ change: `could not check ${what} for this run's tag`, error: reason });
    }
  };
  for (const name of [INSTANCE_POLICY_NAME, USER_POLICY_NAME]) {
    const arn = policyArn(home.partition, account, name);
    await look(`policy ${arn}`, async () => {
      const policy = await rec.read("GetPolicy", arn, () =>
        iam.send(new GetPolicyCommand({ PolicyArn: arn })),
      );
      return rec.createdByThisRun(policy?.Policy?.Tags) ? { type: "Policy", arn } : undefined;
    });
  }
  for (const name of [NODE_ROLE_NAME, CONSOLE_ROLE_NAME]) {
    await look(`role ${name}`, async () => {
      const role = await rec.read("GetRole", name, () => iam.send(new GetRoleCommand({ RoleName: name })));
      return rec.createdByThisRun(role?.Role?.Tags) ? { type: "Role", name } : undefined;
    });
  }
  await look(`instance profile ${NODE_ROLE_NAME}`, async () => {
    const profile = await rec.read("GetInstanceProfile", NODE_ROLE_NAME, () =>
      iam.send(new GetInstanceProfileCommand({ InstanceProfileName: NODE_ROLE_NAME })),
    );
    const ours = rec.createdByThisRun(profile?.InstanceProfile?.Tags);
    return ours ? { type: "InstanceProfile", name: NODE_ROLE_NAME } : undefined;
  });
  await look(`user ${USER_NAME}`, async () => {
    const user = await rec.read("GetUser", USER_NAME, () =>
      iam.send(new GetUserCommand({ UserName: USER_NAME })),
    );
    return rec.createdByThisRun(user?.User?.Tags) ? { type: "User", name: USER_NAME } : undefined;
  });
  const name = secretName(deps.config, account);
  await look(`secret ${name}`, async () => {
    // Only the secret's tags are needed, never its value.
    const described = await rec.read("DescribeSecret", name, () =>
      deps.secrets.send(new DescribeSecretCommand({ SecretId: name })),
    );
    const ours = described?.ARN && rec.createdByThisRun(described.Tags);
    return ours ? { type: "Secret", arn: described.ARN as string } : undefined;
  });
  return found;
}

/**
 * Newest first, and dependents before what they depend on (IAM refuses to delete a user with
 * keys or a policy still attached): keys and profiles before users and roles, policies last.
 */
export const UNDO_RANK: Record<Change["type"], number> = {
  SecretTag: 0,
  SecretPolicy: 0,
  SecretValue: 1,
  Secret: 2,
  AccessKey: 3,
  LoginProfilePassword: 4,
  LoginProfile: 5,
  UserPolicyAttachment: 6,
  UserPolicyDetachment: 7,
  User: 8,
  // An adopted profile's role goes back in once this run's role is out of it.
  InstanceProfileRole: 9,
  InstanceProfileRoleRemoval: 10,
  InstanceProfile: 11,
  RolePolicyAttachment: 12,
  RolePolicyDetachment: 13,
  TrustPolicy: 14,
  Role: 15,
  PolicyVersion: 16,
  Policy: 17,
};

function undoOrder(changes: Change[]): Change[] {
  return changes
    .map((change, index) => ({ change, index }))
    .sort((a, b) => UNDO_RANK[a.change.type] - UNDO_RANK[b.change.type] || b.index - a.index)
    .map(({ change }) => change);
}

function dedupe(changes: Change[]): Change[] {
  const seen = new Set<string>();
  return changes.filter((change) => {
    const key = JSON.stringify(change);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function describe(change: Change): string {
  const { type, ...rest } = change;
  return `${type} ${Object.values(rest).join(" ")}`;
}

/** Undo one change; an entity already gone counts as undone. */
export async function undo(
  change: Change,
  deps: Pick<RollbackDeps, "iam" | "secrets">,
  rec: StepRecorder,
): Promise<void> {
  const { iam } = deps;
  const gone = <T>(op: string, resource: string, send: () => Promise<T>) => rec.delete(op, resource, send);
  switch (change.type) {
    case "Secret":
      // No recovery window: a re-run must be able to create the secret again at once.
      await gone("DeleteSecret", change.arn, () =>
        deps.secrets.send(
          new DeleteSecretCommand({ SecretId: change.arn, ForceDeleteWithoutRecovery: true }),
        ),
      );
      return;
    case "AccessKey":
      await gone("DeleteAccessKey", change.accessKeyId, () =>
        iam.send(new DeleteAccessKeyCommand({ UserName: change.user, AccessKeyId: change.accessKeyId })),
      );
      return;
    case "LoginProfile":
      await gone("DeleteLoginProfile", change.user, () =>
        iam.send(new DeleteLoginProfileCommand({ UserName: change.user })),
      );
      return;
    case "UserPolicyAttachment":
      await gone("DetachUserPolicy", change.policyArn, () =>
        iam.send(new DetachUserPolicyCommand({ UserName: change.user, PolicyArn: change.policyArn })),
      );
      return;
    case "User":
      return deleteUser(iam, change.name, rec);
    case "InstanceProfileRole":
      await gone("RemoveRoleFromInstanceProfile", change.profile, () =>
        iam.send(
          new RemoveRoleFromInstanceProfileCommand({
            InstanceProfileName: change.profile,
            RoleName: change.role,
          }),
        ),
      );
      return;
    case "InstanceProfile":
      return deleteInstanceProfile(iam, change.name, rec);
    case "RolePolicyAttachment":
      await gone("DetachRolePolicy", change.policyArn, () =>
        iam.send(new DetachRolePolicyCommand({ RoleName: change.role, PolicyArn: change.policyArn })),
      );
      return;
    case "TrustPolicy":
      await gone("UpdateAssumeRolePolicy", change.role, () =>
        iam.send(
          new UpdateAssumeRolePolicyCommand({
            RoleName: change.role,
            PolicyDocument: change.previousDocument,
          }),
        ),
      );
      return;
    case "Role":
      return deleteRole(iam, change.name, rec);
    case "PolicyVersion":
      await gone("SetDefaultPolicyVersion", change.arn, () =>
        iam.send(
          new SetDefaultPolicyVersionCommand({
            PolicyArn: change.arn,
            VersionId: change.previousDefaultVersionId,
          }),
        ),
      );
      await gone("DeletePolicyVersion", change.arn, () =>
        iam.send(new DeletePolicyVersionCommand({ PolicyArn: change.arn, VersionId: change.versionId })),
      );
      return;
    case "Policy":
      return deletePolicy(iam, change.arn, rec);
    case "RolePolicyDetachment":
      await rec.change("AttachRolePolicy", `${change.policyArn} to role ${change.role}`, () =>
        iam.send(new AttachRolePolicyCommand({ RoleName: change.role, PolicyArn: change.policyArn })),
      );
      return;
    case "UserPolicyDetachment":
      await rec.change("AttachUserPolicy", `${change.policyArn} to user ${change.user}`, () =>
        iam.send(new AttachUserPolicyCommand({ UserName: change.user, PolicyArn: change.policyArn })),
      );
      return;
    case "InstanceProfileRoleRemoval": {
      // Recorded before it was taken out: it may still be there.
      const profile = await rec.read("GetInstanceProfile", change.profile, () =>
        iam.send(new GetInstanceProfileCommand({ InstanceProfileName: change.profile })),
      );
      if (profile?.InstanceProfile?.Roles?.some((r) => r.RoleName === change.role)) return;
      await rec.change("AddRoleToInstanceProfile", `${change.role} to ${change.profile}`, () =>
        iam.send(
          new AddRoleToInstanceProfileCommand({ InstanceProfileName: change.profile, RoleName: change.role }),
        ),
      );
      return;
    }
    case "SecretValue":
      return restoreSecretVersion(deps.secrets, change.arn, change.previousVersionId, rec);
    case "SecretPolicy":
      return restoreSecretPolicy(deps.secrets, change.arn, change.previousPolicy, rec);
    case "SecretTag":
      await rec.change("UntagResource", change.arn, () =>
        deps.secrets.send(new UntagResourceCommand({ SecretId: change.arn, TagKeys: [change.key] })),
      );
      return;
    case "LoginProfilePassword":
      // Refused by its check: a password before cannot be known.
      return;
  }
}

/** An adopted secret's value before: its version labelled AWSCURRENT again. */
async function restoreSecretVersion(
  secrets: SecretsManagerClient,
  arn: string,
  previous: string,
  rec: StepRecorder,
) {
  const described = await rec.call("DescribeSecret", arn, () =>
    secrets.send(new DescribeSecretCommand({ SecretId: arn })),
  );
  const current = Object.entries(described.VersionIdsToStages ?? {}).find(([, stages]) =>
    stages.includes("AWSCURRENT"),
  )?.[0];
  if (current === previous) return;
  await rec.change("UpdateSecretVersionStage", arn, () =>
    secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: arn,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: previous,
        ...(current ? { RemoveFromVersionId: current } : {}),
      }),
    ),
  );
}

async function restoreSecretPolicy(
  secrets: SecretsManagerClient,
  arn: string,
  previous: string | undefined,
  rec: StepRecorder,
) {
  if (previous === undefined) {
    await rec.delete("DeleteResourcePolicy", arn, () =>
      secrets.send(new DeleteResourcePolicyCommand({ SecretId: arn })),
    );
    return;
  }
  await rec.change("PutResourcePolicy", arn, () =>
    secrets.send(new PutResourcePolicyCommand({ SecretId: arn, ResourcePolicy: previous })),
  );
}

/** A user this run made: everything on it is this run's too, so it goes first (IAM's DeleteConflict). */
async function deleteUser(iam: IAMClient, name: string, rec: StepRecorder) {
  const keys = await rec.read("ListAccessKeys", name, () =>
    iam.send(new ListAccessKeysCommand({ UserName: name })),
  );
  for (const key of keys?.AccessKeyMetadata ?? []) {
    await rec.delete("DeleteAccessKey", name, () =>
      iam.send(new DeleteAccessKeyCommand({ UserName: name, AccessKeyId: key.AccessKeyId })),
    );
  }
  await rec.delete("DeleteLoginProfile", name, () =>
    iam.send(new DeleteLoginProfileCommand({ UserName: name })),
  );
  const attached = await rec.read("ListAttachedUserPolicies", name, () =>
    iam.send(new ListAttachedUserPoliciesCommand({ UserName: name })),
  );
  for (const policy of attached?.AttachedPolicies ?? []) {
    await rec.delete("DetachUserPolicy", name, () =>
      iam.send(new DetachUserPolicyCommand({ UserName: name, PolicyArn: policy.PolicyArn })),
    );
  }
  await rec.delete("DeleteUser", name, () => iam.send(new DeleteUserCommand({ UserName: name })));
}

async function deleteRole(iam: IAMClient, name: string, rec: StepRecorder) {
  const profiles = await rec.read("ListInstanceProfilesForRole", name, () =>
    iam.send(new ListInstanceProfilesForRoleCommand({ RoleName: name })),
  );
  for (const profile of profiles?.InstanceProfiles ?? []) {
    await rec.delete("RemoveRoleFromInstanceProfile", name, () =>
      iam.send(
        new RemoveRoleFromInstanceProfileCommand({
          InstanceProfileName: profile.InstanceProfileName,
          RoleName: name,
        }),
      ),
    );
  }
  const attached = await rec.read("ListAttachedRolePolicies", name, () =>
    iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name })),
  );
  for (const policy of attached?.AttachedPolicies ?? []) {
    await rec.delete("DetachRolePolicy", name, () =>
      iam.send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn: policy.PolicyArn })),
    );
  }
  await rec.delete("DeleteRole", name, () => iam.send(new DeleteRoleCommand({ RoleName: name })));
}

async function deleteInstanceProfile(iam: IAMClient, name: string, rec: StepRecorder) {
  const profile = await rec.read("GetInstanceProfile", name, () =>
    iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })),
  );
  for (const role of profile?.InstanceProfile?.Roles ?? []) {
    await rec.delete("RemoveRoleFromInstanceProfile", name, () =>
      iam.send(
        new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: role.RoleName }),
      ),
    );
  }
  await rec.delete("DeleteInstanceProfile", name, () =>
    iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: name })),
  );
}

/**
 * A policy this run made. Only this run's own attachments are detached (they were undone
 * before, newest first); a policy someone attached meanwhile makes IAM refuse, and is reported.
 */
async function deletePolicy(iam: IAMClient, arn: string, rec: StepRecorder) {
  const versions = await rec.read("ListPolicyVersions", arn, () =>
    iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn })),
  );
  for (const version of versions?.Versions ?? []) {
    if (version.IsDefaultVersion) continue;
    await rec.delete("DeletePolicyVersion", arn, () =>
      iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: version.VersionId })),
    );
  }
  await rec.delete("DeletePolicy", arn, () => iam.send(new DeletePolicyCommand({ PolicyArn: arn })));
}

export const { run, handler } = defineStep({
  name: STEP,
  input: RollbackInputSchema,
  settings: [...targetStepWithSecrets.settings, "secretNamePrefix"],
  clients: targetStepWithSecrets.clients,
  deps: async (context): Promise<RollbackDeps> => {
    const { runtime } = context;
    return {
      // Its registry, IAM in the target account, and the home account's secrets.
      ...(await targetDeps(context)),
      secrets: runtime.clients.secrets(),
      config: runtime.config,
    };
  },
  run: rollback,
});
