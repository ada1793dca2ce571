import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateLoginProfileCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DetachUserPolicyCommand,
  GetAccountPasswordPolicyCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  type IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
} from "@aws-sdk/client-iam";
import { GetResourcePolicyCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Home } from "./lib/aws.ts";
import { type Config, SECRET_SETTINGS, type SettingsOf, USER_NAME, USER_POLICY_NAME } from "./lib/config.ts";
import {
  type AccountCredentials,
  ensureReadersOnly,
  readCredentials,
  requestToken,
  type StoredCredentials,
  secretName,
  signInUrl,
  writeCredentials,
} from "./lib/credentials-secret.ts";
import { defineStep } from "./lib/define-step.ts";
import { retryTransient, WorkflowError } from "./lib/errors.ts";
import { lostRace, setConsolePassword } from "./lib/iam.ts";
import { generatePassword } from "./lib/password.ts";
import { policyArn } from "./lib/policies.ts";
import type { ChangeRecorder } from "./lib/registry.ts";
import type { PlanSink, StepInput, StepRecorder, StepReport } from "./lib/step.ts";
import { recorderFor, targetDeps, targetStepWithSecrets } from "./lib/target-step.ts";

const STEP = "EnsureUser";

/** IAM allows two access keys per user. */
const MAX_ACCESS_KEYS = 2;

export interface UserResult extends StepReport {
  userName: string;
  userArn: string;
  /** Where the access key, its secret and the console password are: never the values. */
  secretArn: string;
  accessKeyId: string;
}

export interface UserDeps {
  iam: IAMClient;
  secrets: SecretsManagerClient;
  home: Home;
  config: Pick<Config, "secretNamePrefix"> & Partial<SettingsOf<"credentialsKeyArn" | "secretReaderArns">>;
  registry: ChangeRecorder;
  plan?: PlanSink;
}

/**
 * Step 2: the user Redis manages the account with, its console password and its access key.
 * A secret exists only at creation, so it is written to Secrets Manager in this same invocation,
 * and the step answers only the secret's ARN and the key's id.
 */
export async function ensureUser(input: StepInput, deps: UserDeps): Promise<UserResult> {
  const rec = await recorderFor(STEP, input, deps);
  const { accountId } = input.target;
  const userPolicy = policyArn(deps.home.partition, accountId, USER_POLICY_NAME);
  const user = await inspectUser(deps.iam, rec);
  const name = secretName(deps.config, accountId);
  const stored = await readCredentials(deps.secrets, name, rec);
  if (stored?.createdByThisRun) await rec.record({ type: "Secret", arn: stored.arn });
  // Adopted by an earlier attempt of this run: still foreign in what its rollback gives back.
  const adoptedNow = stored && rec.ownership.priorOf({ type: "Secret", arn: stored.arn }, rec.execution);
  const secretOurs =
    stored !== undefined &&
    (stored.createdByThisRun || (rec.owns({ type: "Secret", arn: stored.arn }) && !adoptedNow));

  // Everything foreign is named, and refused or adopted, before the first write.
  if (user.exists) await checkUser(deps.iam, user, userPolicy, rec);
  const prior =
    stored && !secretOurs ? (adoptedNow ?? (await checkSecret(deps.secrets, stored, accountId, rec))) : {};
  // A value this deployment did not write is not trusted to hold a working key or password.
  const known = secretOurs ? stored : undefined;
  const keys = planAccessKey(user, known, rec);

  const entity = await ensureUserEntity(deps.iam, user, rec);
  for (const extra of user.attached.filter((arn) => arn !== userPolicy)) {
    // Recorded before it is made, as every change to what existed (see ensureRole).
    await rec.record({ type: "UserPolicyDetachment", user: USER_NAME, policyArn: extra });
    await rec.change("DetachUserPolicy", `${extra} from user ${USER_NAME}`, () =>
      deps.iam.send(new DetachUserPolicyCommand({ UserName: USER_NAME, PolicyArn: extra })),
    );
  }
  if (user.attached.includes(userPolicy)) rec.markFound(`attachment ${userPolicy} to user ${USER_NAME}`);
  else await attachUserPolicy(deps.iam, userPolicy, rec);
  const password = await ensureConsolePassword(deps.iam, user, known, rec);
  const key = await ensureAccessKey(deps.iam, keys, rec);
  const value: AccountCredentials = {
    ...known?.value,
    accountId,
    accessKeyId: key.accessKeyId,
    secretAccessKey: key.secretAccessKey,
    consoleUsername: USER_NAME,
    consolePassword: password.value,
    signInUrl: signInUrl(accountId),
  };
  let secretArn = stored?.arn;
  if (!secretArn || JSON.stringify(value) !== JSON.stringify(stored?.value)) {
    // Recorded before it is made; a secret that held no value has no version to label current again.
    const previousVersionId = typeof prior.versionId === "string" ? prior.versionId : undefined;
    if (stored && !secretOurs && previousVersionId) {
      await rec.record({ type: "SecretValue", arn: stored.arn, previousVersionId });
    }
    secretArn = await writeCredentials(
      deps.secrets,
      {
        name,
        existing: stored,
        value,
        token: requestToken(name, input.execution, key.accessKeyId, password.changed),
        kmsKeyId: deps.config.credentialsKeyArn ?? "",
      },
      rec,
    );
  } else {
    rec.markFound(`secret ${secretArn}`);
  }
  const adopted = stored !== undefined && !secretOurs;
  const secret = {
    arn: secretArn,
    adopted,
    madeNow: stored === undefined,
    ...(typeof prior.resourcePolicy === "string" ? { priorPolicy: prior.resourcePolicy } : {}),
  };
  await ensureReadersOnly(deps.secrets, secret, deps.config.secretReaderArns ?? [], rec);
  return {
    userName: USER_NAME,
    userArn: entity.arn,
    secretArn,
    accessKeyId: key.accessKeyId,
    ...rec.report(),
  };
}

/** The user as it is: absent, or its keys, console password and policies. */
interface UserState {
  exists: boolean;
  arn: string;
  /** The product's: the registry says it made or adopted it, or this execution made it. */
  ours: boolean;
  madeByThisRun: boolean;
  keys: string[];
  /** Keys someone deactivated: Redis cannot use one, so a stored one is replaced, not kept. */
  inactiveKeys?: string[];
  loginProfile: boolean;
  attached: string[];
  /** The user as this run found it when it adopted it (an earlier attempt of this run did). */
  adoptedBefore?: { accessKeyIds?: string[]; loginProfile?: boolean };
}

async function inspectUser(iam: IAMClient, rec: StepRecorder): Promise<UserState> {
  const got = await rec.read("GetUser", USER_NAME, () =>
    iam.send(new GetUserCommand({ UserName: USER_NAME })),
  );
  if (!got?.User) {
    return {
      exists: false,
      arn: "",
      ours: true,
      madeByThisRun: false,
      keys: [],
      loginProfile: false,
      attached: [],
    };
  }
  const madeByThisRun = rec.createdByThisRun(got.User.Tags);
  const [keys, profile, attached] = await Promise.all([
    rec.call("ListAccessKeys", USER_NAME, () => iam.send(new ListAccessKeysCommand({ UserName: USER_NAME }))),
    rec.read("GetLoginProfile", USER_NAME, () =>
      iam.send(new GetLoginProfileCommand({ UserName: USER_NAME })),
    ),
    rec.call("ListAttachedUserPolicies", USER_NAME, () =>
      iam.send(new ListAttachedUserPoliciesCommand({ UserName: USER_NAME, MaxItems: 1000 })),
    ),
  ]);
  const adoptedBefore = rec.ownership.priorOf({ type: "User", name: USER_NAME }, rec.execution);
  return {
    ...(adoptedBefore ? { adoptedBefore } : {}),
    exists: true,
    arn: got.User.Arn ?? "",
    ours: madeByThisRun || rec.owns({ type: "User", name: USER_NAME }),
    madeByThisRun,
    keys: (keys.AccessKeyMetadata ?? []).flatMap((k) => (k.AccessKeyId ? [k.AccessKeyId] : [])),
    inactiveKeys: (keys.AccessKeyMetadata ?? []).flatMap((k) =>
      k.AccessKeyId && k.Status === "Inactive" ? [k.AccessKeyId] : [],
    ),
    loginProfile: profile?.LoginProfile !== undefined,
    attached: (attached.AttachedPolicies ?? []).flatMap((p) => (p.PolicyArn ? [p.PolicyArn] : [])),
  };
}

/**
 * A user the product did not make is foreign once it holds anything: keys or a password it did
 * not make (Redis could not be given them), or other policies (Redis would get them). One with
 * IAM's two keys, or inline policies, is never adopted: something would be lost for good.
 */
async function checkUser(
  iam: IAMClient,
  user: UserState,
  userPolicy: string,
  rec: StepRecorder,
): Promise<void> {
  const extra = user.attached.filter((arn) => arn !== userPolicy);
  const foreignKeys = user.ours ? [] : user.keys;
  const differences = [
    ...(foreignKeys.length > 0
      ? [`it has access keys the product did not make: ${foreignKeys.join(", ")}`]
      : []),
    ...(!user.ours && user.loginProfile ? ["it has a console password the product did not set"] : []),
    ...(extra.length > 0 && !user.ours ? [`it has other policies attached: ${extra.join(", ")}`] : []),
  ];
  if (differences.length === 0) return;
  const listed = await rec.call("ListUserPolicies", USER_NAME, () =>
    iam.send(new ListUserPoliciesCommand({ UserName: USER_NAME, MaxItems: 1000 })),
  );
  const inline = listed.PolicyNames ?? [];
  const blocking =
    foreignKeys.length >= MAX_ACCESS_KEYS
      ? `it has IAM's ${MAX_ACCESS_KEYS} access keys, and one would have to be deleted for good`
      : inline.length > 0
        ? `it has inline policies (${inline.join(", ")}), which would be lost`
        : undefined;
  await rec.foreign(
    {
      resource: `user ${USER_NAME}`,
      differences,
      ...(blocking ? { blocking } : {}),
      ...(!user.ours && user.loginProfile
        ? { unrestorable: ["its console password is reset for Redis; the one before cannot be given back"] }
        : {}),
    },
    {
      change: { type: "User", name: USER_NAME },
      prior: { accessKeyIds: user.keys, loginProfile: user.loginProfile, attached: user.attached },
    },
  );
}

/** A secret at the product's name that this deployment did not write: foreign, whatever it holds. */
async function checkSecret(
  secrets: SecretsManagerClient,
  stored: StoredCredentials,
  accountId: string,
  rec: StepRecorder,
): Promise<Record<string, unknown>> {
  const fields = Object.keys(stored.value).sort();
  const differences = [
    "this deployment did not make it",
    stored.value.accountId === accountId
      ? "it names this account, but its key and password cannot be trusted to be the ones in use"
      : `its value is not this account's credentials (fields: ${fields.join(", ") || "none"})`,
  ];
  // Its state before, so that a retried attempt (which finds its own changes) gives back the same.
  const policy = await rec.read("GetResourcePolicy", stored.arn, () =>
    secrets.send(new GetResourcePolicyCommand({ SecretId: stored.arn })),
  );
  const prior = { versionId: stored.versionId ?? null, resourcePolicy: policy?.ResourcePolicy ?? null };
  await rec.foreign(
    { resource: `secret ${stored.arn}`, differences },
    { change: { type: "Secret", arn: stored.arn }, prior },
  );
  return prior;
}

async function ensureUserEntity(iam: IAMClient, user: UserState, rec: StepRecorder, raced = false) {
  if (user.exists) {
    if (user.madeByThisRun) await rec.record({ type: "User", name: USER_NAME });
    else rec.markFound(`user ${USER_NAME}`);
    return { arn: user.arn };
  }
  const made = await rec.create(
    "CreateUser",
    USER_NAME,
    () => iam.send(new CreateUserCommand({ UserName: USER_NAME, Tags: rec.tags })),
    { simulate: () => ({ User: { Arn: `(new user ${USER_NAME})` } }) },
  );
  if (!made?.User) {
    if (raced) throw lostRace(rec, `user ${USER_NAME}`);
    // Made concurrently: another run of this account holds the lock no longer. Read it afresh.
    return ensureUserEntity(iam, await inspectUser(iam, rec), rec, true);
  }
  await rec.record({ type: "User", name: USER_NAME });
  return { arn: made.User.Arn ?? "" };
}

async function attachUserPolicy(iam: IAMClient, policyArn: string, rec: StepRecorder) {
  await rec.record({ type: "UserPolicyAttachment", user: USER_NAME, policyArn });
  await rec.change("AttachUserPolicy", `${policyArn} to user ${USER_NAME}`, () =>
    iam.send(new AttachUserPolicyCommand({ UserName: USER_NAME, PolicyArn: policyArn })),
  );
}

/**
 * The console password: kept when the product's secret holds it; otherwise a new one that meets
 * the account's password policy, never to be reset at first sign-in. Resetting an adopted user's
 * password is recorded: its rollback cannot give the old one back, and says so.
 */
async function ensureConsolePassword(
  iam: IAMClient,
  user: UserState,
  stored: StoredCredentials | undefined,
  rec: StepRecorder,
): Promise<{ value: string; changed: boolean }> {
  const known = stored?.value.consolePassword;
  if (user.loginProfile && known) {
    rec.markFound(`login profile of ${USER_NAME}`);
    return { value: known, changed: false };
  }
  const policy = await rec.read("GetAccountPasswordPolicy", "account password policy", () =>
    iam.send(new GetAccountPasswordPolicyCommand({})),
  );
  const password = generatePassword(policy?.PasswordPolicy);
  if (user.loginProfile) {
    // A profile the user had not when this run adopted it is this run's (its record was lost).
    if (user.adoptedBefore?.loginProfile === false)
      await rec.record({ type: "LoginProfile", user: USER_NAME });
    return resetPassword(iam, password, user, rec);
  }
  const made = await rec.create(
    "CreateLoginProfile",
    USER_NAME,
    () =>
      iam.send(
        new CreateLoginProfileCommand({
          UserName: USER_NAME,
          Password: password,
          PasswordResetRequired: false,
        }),
      ),
    { simulate: () => ({ LoginProfile: { UserName: USER_NAME } }) },
  );
  // Made concurrently (by an attempt of this run that lost its answer): ours was not set.
  if (!made) return resetPassword(iam, password, user, rec);
  await rec.record({ type: "LoginProfile", user: USER_NAME });
  return { value: password, changed: true };
}

async function resetPassword(iam: IAMClient, password: string, user: UserState, rec: StepRecorder) {
  if (!user.ours) await rec.record({ type: "LoginProfilePassword", user: USER_NAME });
  await setConsolePassword(iam, password, rec);
  return { value: password, changed: true };
}

type KeyPlan =
  | { keep: { accessKeyId: string; secretAccessKey: string } }
  | { keep?: undefined; deleteFirst: string[] };

/**
 * The access key: kept when the product's secret holds a key that is still on the user. Otherwise
 * a new one. Room for it is made only by deleting keys the registry says the product made and
 * Redis does not use: the key Redis uses stays until Redis has been moved to the new one
 * (RetireOldKey), and a key someone else made is never deleted.
 */
function planAccessKey(user: UserState, stored: StoredCredentials | undefined, rec: StepRecorder): KeyPlan {
  const { accessKeyId, secretAccessKey } = stored?.value ?? {};
  const usable = accessKeyId !== undefined && !(user.inactiveKeys ?? []).includes(accessKeyId);
  if (accessKeyId && secretAccessKey && user.keys.includes(accessKeyId) && usable) {
    rec.markFound(`access key ${accessKeyId}`);
    return { keep: { accessKeyId, secretAccessKey } };
  }
  const redisKeys = rec.ownership.redisKeys;
  // A key the user had not when this run adopted it is this run's too (its record was lost).
  const madeSinceAdoption = (id: string) => user.adoptedBefore?.accessKeyIds?.includes(id) === false;
  const deletable = user.keys.filter(
    (id) =>
      !redisKeys.has(id) &&
      (rec.owns({ type: "AccessKey", user: USER_NAME, accessKeyId: id }) || madeSinceAdoption(id)),
  );
  const kept = user.keys.filter((id) => !deletable.includes(id));
  if (kept.length >= MAX_ACCESS_KEYS) {
    const why = kept.map(
      (id) => `${id} (${redisKeys.has(id) ? "used by Redis Cloud" : "not made by this product"})`,
    );
    throw new WorkflowError(
      "LimitExceeded",
      `${rec.step}: user ${USER_NAME} already has ${kept.length} access keys that must not be deleted: ${why.join(", ")}; delete one that Redis does not use and run again`,
    );
  }
  return { deleteFirst: deletable };
}

async function ensureAccessKey(iam: IAMClient, plan: KeyPlan, rec: StepRecorder) {
  if (plan.keep) return plan.keep;
  for (const orphan of plan.deleteFirst) {
    await rec.delete("DeleteAccessKey", `${orphan} of ${USER_NAME}`, () =>
      iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: orphan })),
    );
  }
  const made = await rec.create(
    "CreateAccessKey",
    USER_NAME,
    () => iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME })),
    // A plan's made-up key: an id that says what it is, and no secret at all.
    { simulate: () => ({ AccessKey: { AccessKeyId: PLANNED_KEY, SecretAccessKey: "" } }) },
  );
  const key = made?.AccessKey;
  if (!key?.AccessKeyId || (!key.SecretAccessKey && !rec.planning)) {
    throw new WorkflowError("UnexpectedError", `${rec.step}: CreateAccessKey ${USER_NAME} returned no key`);
  }
  await recordOrWithdraw(iam, key.AccessKeyId, rec);
  return { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey ?? "" };
}

/**
 * A new key the registry cannot take is deleted before the step fails: unrecorded, a retry could
 * not tell it from a key someone else made, and would leave it behind (or run into IAM's two).
 */
async function recordOrWithdraw(iam: IAMClient, accessKeyId: string, rec: StepRecorder) {
  try {
    await retryTransient(() => rec.record({ type: "AccessKey", user: USER_NAME, accessKeyId }), 4);
  } catch (error) {
    await retryTransient(() =>
      rec.delete("DeleteAccessKey", `${accessKeyId} of ${USER_NAME}`, () =>
        iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: accessKeyId })),
      ),
    ).catch(() => undefined);
    throw error;
  }
}

/** The id a plan gives the access key a run would make. */
export const PLANNED_KEY = "(new access key)";

export const { run, handler } = defineStep({
  ...targetStepWithSecrets,
  name: STEP,
  settings: [...targetStepWithSecrets.settings, ...SECRET_SETTINGS],
  deps: async (context) => ({
    ...(await targetDeps(context)),
    secrets: context.runtime.clients.secrets(),
    config: context.runtime.config,
  }),
  run: ensureUser,
});
