import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccountPasswordPolicyCommand,
  type IAMClient,
  ListAccessKeysCommand,
} from "@aws-sdk/client-iam";
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { targetIam } from "./lib/aws.ts";
import { USER_NAME } from "./lib/config.ts";
import { type AccountCredentials, ensureReadersOnly, signInUrl } from "./lib/credentials-secret.ts";
import { defineStep } from "./lib/define-step.ts";
import { TRANSIENT_ERRORS, WorkflowError } from "./lib/errors.ts";
import { setConsolePassword } from "./lib/iam.ts";
import { parseJsonObject } from "./lib/input.ts";
import { generatePassword } from "./lib/password.ts";
import { Registry, type RegistryItem } from "./lib/registry.ts";
import {
  pendingVersionId,
  RotationRecordSchema,
  type RotationStepInput,
  RotationStepInputSchema,
} from "./lib/rotation.ts";
import { StepRecorder } from "./lib/step.ts";
import { targetStepWithSecrets } from "./lib/target-step.ts";

const STEP = "CreatePendingKey";

export interface CreateKeyDeps {
  iam: IAMClient;
  secrets: SecretsManagerClient;
  registry: Pick<Registry, "get" | "recordRotation">;
  /** The principals that may read the secret (the deployment's SECRET_READER_ARNS). */
  readers: readonly string[];
}

export interface PendingKey {
  newAccessKeyId: string;
  /** The secret's version labelled AWSPENDING: the new key and password (never their values here). */
  pendingVersionId: string;
}

/**
 * The rotation's first write: a second access key for redislabs-user and a new console password,
 * written in this same invocation as the secret's AWSPENDING version (AWSCURRENT, the old key and
 * password Redis uses, stays as it is). A key the product made that Redis does not use (an
 * earlier rotation's) is deleted first when the user already holds two; a key the product does not
 * know is never touched: LimitExceeded names it. A retry finds its version written and makes
 * nothing; one whose key was made but whose secret was not deletes that key and starts again.
 */
export async function createPendingKey(input: RotationStepInput, deps: CreateKeyDeps): Promise<PendingKey> {
  const rec = new StepRecorder(STEP, input.execution);
  const { secretArn, previousAccessKeyId } = input.rotation;
  const { accountId } = input.target;
  const versionId = pendingVersionId(secretArn, input.execution);
  // The rotation's own readers (UndoRotation) join the secret's readers-only policy before it needs them.
  await ensureReadersOnly(deps.secrets, { arn: secretArn, adopted: false }, deps.readers, rec);
  const pending = await rec.read("GetSecretValue", `${secretArn} (AWSPENDING)`, () =>
    deps.secrets.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: "AWSPENDING" })),
  );
  const item = await deps.registry.get(accountId);
  const made = RotationRecordSchema.safeParse(item?.rotation).data?.newAccessKeyId;
  const listed = await rec.call("ListAccessKeys", USER_NAME, () =>
    deps.iam.send(new ListAccessKeysCommand({ UserName: USER_NAME })),
  );
  const keys = (listed.AccessKeyMetadata ?? []).flatMap((k) => (k.AccessKeyId ? [k.AccessKeyId] : []));
  const pendingKey = parseJsonObject(pending?.SecretString)?.accessKeyId;
  if (pending?.VersionId === versionId && typeof pendingKey === "string" && keys.includes(pendingKey)) {
    rec.markFound(`pending version ${versionId} of ${secretArn}`);
    return { newAccessKeyId: pendingKey, pendingVersionId: versionId };
  }
  if (!keys.includes(previousAccessKeyId)) {
    throw new WorkflowError(
      "UnexpectedError",
      `${STEP}: access key ${previousAccessKeyId}, which Redis uses, is not on ${USER_NAME} of account ${accountId}; onboard the account again to give Redis a working key`,
    );
  }
  for (const other of keys.filter((k) => k !== previousAccessKeyId)) {
    // This run's own key whose secret was never stored, or a key the product made earlier.
    if (other !== made && !isProductKey(item, other)) {
      throw new WorkflowError(
        "LimitExceeded",
        `${STEP}: ${USER_NAME} of account ${accountId} holds access key ${other}, which the product did not make, besides ${previousAccessKeyId} which Redis uses; delete ${other} and rotate again`,
      );
    }
    await rec.delete("DeleteAccessKey", `${other} of ${USER_NAME}`, () =>
      deps.iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: other })),
    );
  }
  const created = await rec.change("CreateAccessKey", USER_NAME, () =>
    deps.iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME })),
  );
  const key = created.AccessKey;
  if (!key?.AccessKeyId || !key.SecretAccessKey) {
    throw new WorkflowError("UnexpectedError", `${STEP}: CreateAccessKey answered no key for ${USER_NAME}`);
  }
  // Recorded before anything else can fail: the undo deletes it even if its secret is never stored.
  await recordNewKey(input, key.AccessKeyId, deps, rec);
  const policy = await rec.read("GetAccountPasswordPolicy", "account password policy", () =>
    deps.iam.send(new GetAccountPasswordPolicyCommand({})),
  );
  const password = generatePassword(policy?.PasswordPolicy);
  await setConsolePassword(deps.iam, password, rec);
  // Built whole, not read: this step is no reader of the current value.
  const value: AccountCredentials = {
    accountId,
    accessKeyId: key.AccessKeyId,
    secretAccessKey: key.SecretAccessKey,
    consoleUsername: USER_NAME,
    consolePassword: password,
    signInUrl: signInUrl(accountId),
    cloudAccountId: input.rotation.cloudAccountId,
  };
  // A version of this token holding another key (a retry whose key was replaced) cannot be
  // rewritten: Secrets Manager refuses it, and the undo clears it.
  await rec.change("PutSecretValue", `${secretArn} (AWSPENDING)`, () =>
    deps.secrets.send(
      new PutSecretValueCommand({
        SecretId: secretArn,
        SecretString: JSON.stringify(value),
        ClientRequestToken: versionId,
        VersionStages: ["AWSPENDING"],
      }),
    ),
  );
  return { newAccessKeyId: key.AccessKeyId, pendingVersionId: versionId };
}

/** Attempts at recording the new key's id before the step gives up on it. */
const RECORD_ATTEMPTS = 3;

/**
 * The new key's id into the registry. A key the registry does not know would be foreign to every
 * later attempt (LimitExceeded), so a registry that stays busy or refuses gets the key deleted
 * here, while its id is at hand, before the step fails.
 */
async function recordNewKey(
  input: RotationStepInput,
  accessKeyId: string,
  deps: CreateKeyDeps,
  rec: StepRecorder,
) {
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.registry.recordRotation(input.target.accountId, input.execution, {
        newAccessKeyId: accessKeyId,
      });
      return;
    } catch (error) {
      const transient = (TRANSIENT_ERRORS as readonly string[]).includes((error as Error).name);
      if (transient && attempt < RECORD_ATTEMPTS) continue;
      await rec.delete("DeleteAccessKey", `${accessKeyId} of ${USER_NAME}`, () =>
        deps.iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: accessKeyId })),
      );
      throw error;
    }
  }
}

/** The registry knows the key as the product's: made by a run, or a rotation's old or new key. */
function isProductKey(item: RegistryItem | undefined, accessKeyId: string): boolean {
  if (!item) return false;
  const made = item.resources.some(
    (e) => e.change.type === "AccessKey" && e.change.accessKeyId === accessKeyId,
  );
  const registration = item.registration;
  const replaced = registration?.previousAccessKeyId === accessKeyId;
  return made || replaced;
}

export const { run, handler } = defineStep({
  name: STEP,
  input: RotationStepInputSchema,
  settings: [...targetStepWithSecrets.settings, "secretReaderArns"],
  clients: targetStepWithSecrets.clients,
  deps: async ({ input, runtime, step }): Promise<CreateKeyDeps> => ({
    iam: await targetIam(runtime, input, step),
    secrets: runtime.clients.secrets(),
    registry: new Registry(runtime.clients.dynamodb(), runtime.config.registryTableName, step),
    readers: runtime.config.secretReaderArns,
  }),
  run: createPendingKey,
});
