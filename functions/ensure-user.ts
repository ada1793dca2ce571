import {
  CreateAccessKeyCommand,
  CreateLoginProfileCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  GetAccountPasswordPolicyCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  type IAMClient,
  ListAccessKeysCommand,
  UpdateLoginProfileCommand,
} from "@aws-sdk/client-iam";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
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
import { WorkflowError } from "./lib/errors.ts";
import { ensureUserPolicyAttached, lostRace } from "./lib/iam.ts";
import { generatePassword } from "./lib/password.ts";
import { policyArn } from "./lib/policies.ts";
import type { ChangeRecorder } from "./lib/registry.ts";
import {
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  type StepInput,
  type StepRecorder,
  type StepReport,
  type Tag,
} from "./lib/step.ts";
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
}

/**
 * Step 4: the user Redis manages the account with, its console password and its access key.
 * A secret exists only at creation, so it is written to Secrets Manager in this same invocation,
 * and the step answers only the secret's ARN and the key's id.
 */
export async function ensureUser(input: StepInput, deps: UserDeps): Promise<UserResult> {
  const rec = recorderFor(STEP, input, deps.registry);
  const { accountId } = input.target;
  const user = await ensureUserEntity(deps.iam, rec);
  const name = secretName(deps.config, accountId);
  const stored = await readCredentials(deps.secrets, name, rec);
  if (stored?.createdByThisRun) await rec.record({ type: "Secret", arn: stored.arn });

  // Whether a key can be had is settled first: a step that is going to fail changes nothing on a
  // user that existed before it (no attachment, no password).
  const keys = await planAccessKey(deps.iam, stored, user.managedByUs, rec);
  await ensureUserPolicyAttached(
    deps.iam,
    USER_NAME,
    policyArn(deps.home.partition, accountId, USER_POLICY_NAME),
    rec,
  );
  const password = await ensureConsolePassword(deps.iam, stored, rec);
  const key = await ensureAccessKey(deps.iam, keys, rec);
  const value: AccountCredentials = {
    ...stored?.value,
    accountId,
    accessKeyId: key.accessKeyId,
    secretAccessKey: key.secretAccessKey,
    consoleUsername: USER_NAME,
    consolePassword: password.value,
    signInUrl: signInUrl(accountId),
  };
  let secretArn = stored?.arn;
  if (!secretArn || JSON.stringify(value) !== JSON.stringify(stored?.value)) {
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
  await ensureReadersOnly(deps.secrets, secretArn, deps.config.secretReaderArns ?? [], rec);
  return { userName: USER_NAME, userArn: user.arn, secretArn, accessKeyId: key.accessKeyId, ...rec.report() };
}

async function ensureUserEntity(iam: IAMClient, rec: StepRecorder, raced = false) {
  const existing = await rec.read("GetUser", USER_NAME, () =>
    iam.send(new GetUserCommand({ UserName: USER_NAME })),
  );
  if (existing?.User) {
    await rec.existing(`user ${USER_NAME}`, existing.User.Tags, { type: "User", name: USER_NAME });
    return { arn: existing.User.Arn ?? "", managedByUs: isManagedByUs(existing.User.Tags) };
  }
  const made = await rec.create("CreateUser", USER_NAME, () =>
    iam.send(new CreateUserCommand({ UserName: USER_NAME, Tags: rec.tags })),
  );
  if (!made?.User) {
    if (raced) throw lostRace(rec, `user ${USER_NAME}`);
    return ensureUserEntity(iam, rec, true);
  }
  await rec.record({ type: "User", name: USER_NAME });
  return { arn: made.User.Arn ?? "", managedByUs: true };
}

function isManagedByUs(tags: Tag[] | undefined): boolean {
  return (tags ?? []).some((tag) => tag.Key === MANAGED_BY_TAG && tag.Value === MANAGED_BY_VALUE);
}

/**
 * The console password: kept when the secret already holds it; otherwise a new one that meets
 * the account's password policy, never to be reset at first sign-in.
 */
async function ensureConsolePassword(
  iam: IAMClient,
  stored: StoredCredentials | undefined,
  rec: StepRecorder,
  raced = false,
): Promise<{ value: string; changed: boolean }> {
  const profile = await rec.read("GetLoginProfile", USER_NAME, () =>
    iam.send(new GetLoginProfileCommand({ UserName: USER_NAME })),
  );
  const known = stored?.value.consolePassword;
  if (profile?.LoginProfile && known) {
    rec.markFound(`login profile of ${USER_NAME}`);
    return { value: known, changed: false };
  }
  const policy = await rec.read("GetAccountPasswordPolicy", "account password policy", () =>
    iam.send(new GetAccountPasswordPolicyCommand({})),
  );
  const password = generatePassword(policy?.PasswordPolicy);
  if (profile?.LoginProfile) {
    // A profile the secret does not know (made by hand or by a crashed run): its password is lost.
    await rec.change("UpdateLoginProfile", USER_NAME, () =>
      iam.send(
        new UpdateLoginProfileCommand({
          UserName: USER_NAME,
          Password: password,
          PasswordResetRequired: false,
        }),
      ),
    );
    return { value: password, changed: true };
  }
  const made = await rec.create("CreateLoginProfile", USER_NAME, () =>
    iam.send(
      new CreateLoginProfileCommand({
        UserName: USER_NAME,
        Password: password,
        PasswordResetRequired: false,
      }),
    ),
  );
  // Made concurrently: ours was not set, so take the profile over with our password (once).
  if (!made) {
    if (raced) throw lostRace(rec, `login profile of ${USER_NAME}`);
    return ensureConsolePassword(iam, undefined, rec, true);
  }
  await rec.record({ type: "LoginProfile", user: USER_NAME });
  return { value: password, changed: true };
}

type KeyPlan =
  | { keep: { accessKeyId: string; secretAccessKey: string } }
  | { keep?: undefined; deleteFirst: string[] };

/**
 * The access key: kept when the secret holds a key that still exists on the user. Otherwise a
 * new one; keys the secret does not know are deleted first when the user is ours (only a crashed
 * run leaves them), never on a user that existed before this product touched it.
 */
async function planAccessKey(
  iam: IAMClient,
  stored: StoredCredentials | undefined,
  userManagedByUs: boolean,
  rec: StepRecorder,
): Promise<KeyPlan> {
  const listed = await rec.call("ListAccessKeys", USER_NAME, () =>
    iam.send(new ListAccessKeysCommand({ UserName: USER_NAME })),
  );
  const keys = (listed.AccessKeyMetadata ?? []).flatMap((k) => (k.AccessKeyId ? [k.AccessKeyId] : []));
  const { accessKeyId, secretAccessKey } = stored?.value ?? {};
  if (accessKeyId && secretAccessKey && keys.includes(accessKeyId)) {
    rec.markFound(`access key ${accessKeyId}`);
    return { keep: { accessKeyId, secretAccessKey } };
  }
  if (userManagedByUs) return { deleteFirst: keys };
  if (keys.length >= MAX_ACCESS_KEYS) {
    throw new WorkflowError(
      "LimitExceeded",
      `${rec.step}: user ${USER_NAME} existed before and already has ${keys.length} access keys (${keys.join(", ")}); delete one that Redis does not use and run again`,
    );
  }
  return { deleteFirst: [] };
}

async function ensureAccessKey(iam: IAMClient, plan: KeyPlan, rec: StepRecorder) {
  if (plan.keep) return plan.keep;
  for (const orphan of plan.deleteFirst) {
    await rec.delete("DeleteAccessKey", `${orphan} of ${USER_NAME}`, () =>
      iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: orphan })),
    );
  }
  const made = await rec.create("CreateAccessKey", USER_NAME, () =>
    iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME })),
  );
  const key = made?.AccessKey;
  if (!key?.AccessKeyId || !key.SecretAccessKey) {
    throw new WorkflowError("UnexpectedError", `${rec.step}: CreateAccessKey ${USER_NAME} returned no key`);
  }
  await rec.record({ type: "AccessKey", user: USER_NAME, accessKeyId: key.AccessKeyId });
  return { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
}

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
