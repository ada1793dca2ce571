import { createHash } from "node:crypto";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { Config } from "./config.ts";
import { WorkflowError } from "./errors.ts";
import { parseJsonObject } from "./input.ts";
import { decodePolicyDocument, samePolicy } from "./policies.ts";
import type { StepRecorder } from "./step.ts";

/** What the onboarding keeps for one target account: one secret, in the workflow's account. */
export interface AccountCredentials {
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
  consoleUsername: string;
  consolePassword: string;
  signInUrl: string;
  /** Set once Redis Cloud has registered the account. */
  cloudAccountId?: number;
}

export const secretName = (config: Pick<Config, "secretNamePrefix">, accountId: string): string =>
  `${config.secretNamePrefix}${accountId}`;

export const signInUrl = (accountId: string): string => `https://${accountId}.signin.aws.amazon.com/console`;

export interface StoredCredentials {
  arn: string;
  value: Partial<AccountCredentials>;
  createdByThisRun: boolean;
  /** The version labelled AWSCURRENT, which an adopted secret's rollback labels current again. */
  versionId?: string;
}

/** The secret as stored, or undefined when there is none yet. */
export async function readCredentials(
  secrets: SecretsManagerClient,
  name: string,
  rec: StepRecorder,
): Promise<StoredCredentials | undefined> {
  const described = await rec.read("DescribeSecret", name, () =>
    secrets.send(new DescribeSecretCommand({ SecretId: name })),
  );
  if (!described?.ARN) return undefined;
  const arn = described.ARN;
  if (described.DeletedDate) {
    throw new WorkflowError(
      "ResourceConflict",
      `${rec.step}: secret ${name} is scheduled for deletion; restore it (RestoreSecret) or delete it for good, then run again`,
    );
  }
  const stored = await rec.read("GetSecretValue", arn, () =>
    secrets.send(new GetSecretValueCommand({ SecretId: arn })),
  );
  return {
    arn,
    value: parse(stored?.SecretString),
    createdByThisRun: rec.createdByThisRun(described.Tags),
    ...(stored?.VersionId ? { versionId: stored.VersionId } : {}),
  };
}

/** Not ours to understand when it is not an object: it will be replaced by a complete value. */
const parse = (text: string | undefined): Partial<AccountCredentials> =>
  (parseJsonObject(text) ?? {}) as Partial<AccountCredentials>;

/**
 * The same write always carries the same token, so a retried call (by the SDK or by a re-run
 * of this step in the same execution) cannot store a second version. The token names what is
 * new in the value (the key and whether the password changed), never the secret itself.
 */
export function requestToken(name: string, execution: string, accessKeyId: string, passwordChanged: boolean) {
  const hex = createHash("sha256")
    .update(`${name}|${execution}|${accessKeyId}|${passwordChanged ? "password" : ""}`)
    .digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export interface CredentialsWrite {
  name: string;
  existing: StoredCredentials | undefined;
  value: AccountCredentials;
  token: string;
  /** The stack's key for the credentials secrets (unset or "": Secrets Manager's default key). */
  kmsKeyId?: string;
}

/**
 * The secret's resource policy: nobody but `readers` may read the value, whatever their IAM
 * policies say (an administrator of the stack's account included). Managing the secret (describe,
 * delete, restore) stays with IAM.
 */
export function readersOnlyPolicy(readers: readonly string[]): object {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "OnlyTheOnboardingAndItsReaders",
        Effect: "Deny",
        Principal: "*",
        Action: "secretsmanager:GetSecretValue",
        Resource: "*",
        Condition: { StringNotLike: { "aws:PrincipalArn": [...readers] } },
      },
    ],
  };
}

/**
 * Puts the readers-only policy on a secret this product made, unless it is there already. With no
 * readers configured (local runs) there is nothing to restrict to, and nothing is written.
 */
export async function ensureReadersOnly(
  secrets: SecretsManagerClient,
  secret: {
    arn: string;
    adopted: boolean;
    madeNow?: boolean;
    /** An adopted secret's policy as the adoption found it (the current one may be this run's). */
    priorPolicy?: string;
  },
  readers: readonly string[],
  rec: StepRecorder,
): Promise<void> {
  if (readers.length === 0) return;
  const { arn } = secret;
  const desired = readersOnlyPolicy(readers);
  // A secret this very call made has no policy yet (and in a plan, no ARN to read it by).
  const current = secret.madeNow
    ? undefined
    : await rec.read("GetResourcePolicy", arn, () =>
        secrets.send(new GetResourcePolicyCommand({ SecretId: arn })),
      );
  const policy =
    current?.ResourcePolicy === undefined ? undefined : decodePolicyDocument(current.ResourcePolicy);
  if (policy !== undefined && samePolicy(policy, desired)) {
    rec.markFound(`resource policy of secret ${arn}`);
    return;
  }
  // An adopted secret's policy before is given back if the run fails: recorded before it goes.
  if (secret.adopted) {
    const previous = secret.priorPolicy ?? current?.ResourcePolicy;
    await rec.record({
      type: "SecretPolicy",
      arn,
      ...(previous === undefined ? {} : { previousPolicy: previous }),
    });
  }
  await rec.change(
    "PutResourcePolicy",
    arn,
    () =>
      secrets.send(
        new PutResourcePolicyCommand({
          SecretId: arn,
          ResourcePolicy: JSON.stringify(desired),
          // Refused if it would let anyone outside the account read the secret.
          BlockPublicPolicy: true,
        }),
      ),
    { before: policy ?? null, after: desired },
  );
}

/** Stores the credentials; answers the secret's ARN. */
export async function writeCredentials(
  secrets: SecretsManagerClient,
  write: CredentialsWrite,
  rec: StepRecorder,
) {
  const secretString = JSON.stringify(write.value);
  if (write.existing) {
    const arn = write.existing.arn;
    await rec.change(
      "PutSecretValue",
      arn,
      () =>
        secrets.send(
          new PutSecretValueCommand({
            SecretId: arn,
            SecretString: secretString,
            ClientRequestToken: write.token,
          }),
        ),
      // The plan shows which fields change, never their values.
      { before: Object.keys(write.existing.value).sort(), after: Object.keys(write.value).sort() },
    );
    return arn;
  }
  const made = await rec.create(
    "CreateSecret",
    write.name,
    () =>
      secrets.send(
        new CreateSecretCommand({
          Name: write.name,
          Description: `Redis Cloud BYOC credentials of AWS account ${write.value.accountId}`,
          SecretString: secretString,
          ClientRequestToken: write.token,
          Tags: rec.tags,
          ...(write.kmsKeyId ? { KmsKeyId: write.kmsKeyId } : {}),
        }),
      ),
    { simulate: () => ({ ARN: `(new secret ${write.name})` }), after: Object.keys(write.value).sort() },
  );
  if (!made?.ARN) {
    // Created concurrently: store our value as its next version instead.
    const existing = await readCredentials(secrets, write.name, rec);
    if (!existing)
      throw new WorkflowError(
        "ConcurrentModification",
        `${rec.step}: secret ${write.name} exists but cannot be read yet`,
      );
    return writeCredentials(secrets, { ...write, existing }, rec);
  }
  await rec.record({ type: "Secret", arn: made.ARN });
  return made.ARN;
}
