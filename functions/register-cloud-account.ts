import {
  ALREADY_REGISTERED,
  adoptRegisteredAccount,
  cloudAccountName,
  findCloudAccountOfKey,
} from "./lib/cloud-accounts.ts";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import {
  type RedisStepDeps,
  type RedisStepInput,
  RedisStepInputSchema,
  readAccountCredentials,
  redisStep,
} from "./lib/redis-api-keys.ts";
import { RedisCloudError } from "./lib/redis-cloud.ts";
import { StepRecorder } from "./lib/step.ts";

const STEP = "RegisterCloudAccount";

/** Either the cloud account that already holds the key, or the task that creates it. */
export type RegisterResult = { cloudAccountId: number; reused: true } | { taskId: string; reused: false };

/**
 * Step 7a: registers the account with Redis Cloud, idempotently. Redis allows one cloud account
 * per access key, so the key identifies ours: found → reused; absent → created, and the task id
 * is returned for CheckRegistration to follow. The request carries the secret key and the
 * console password straight from the secret; the output carries neither.
 */
export async function registerCloudAccount(
  input: RedisStepInput,
  deps: RedisStepDeps,
): Promise<RegisterResult> {
  const rec = new StepRecorder(STEP, input.execution);
  const credentials = await readAccountCredentials(deps.secrets, input.credentialsSecretArn, rec, [
    "accessKeyId",
    "secretAccessKey",
    "consoleUsername",
    "consolePassword",
    "signInUrl",
  ]);
  if (credentials.accountId !== undefined && credentials.accountId !== input.target.accountId) {
    throw new WorkflowError(
      "UnexpectedError",
      `${STEP}: secret ${input.credentialsSecretArn} holds the credentials of account ${credentials.accountId}, not ${input.target.accountId}`,
    );
  }
  const name = cloudAccountName(input.target);
  const existing = findCloudAccountOfKey(await deps.redis.listCloudAccounts(), credentials.accessKeyId, name);
  if (existing) return { cloudAccountId: existing.id, reused: true };

  try {
    const task = await deps.redis.createCloudAccount({
      name,
      provider: "AWS",
      accessKeyId: credentials.accessKeyId,
      accessSecretKey: credentials.secretAccessKey,
      consoleUsername: credentials.consoleUsername,
      consolePassword: credentials.consolePassword,
      signInLoginUrl: credentials.signInUrl,
    });
    return { taskId: task.taskId, reused: false };
  } catch (error) {
    // A concurrent run registered between our listing and our POST.
    if (!isAlreadyRegistered(error)) throw error;
    const refusal = error.redisType ?? `HTTP ${error.status}`;
    const winner = await adoptRegisteredAccount(deps.redis, credentials.accessKeyId, name, refusal);
    return { cloudAccountId: winner.id, reused: true };
  }
}

function isAlreadyRegistered(error: unknown): error is RedisCloudError {
  if (!(error instanceof RedisCloudError)) return false;
  return (
    ALREADY_REGISTERED.has(error.redisType ?? "") || (error.redisType === undefined && error.status === 409)
  );
}

export const { run, handler } = defineStep({
  ...redisStep,
  name: STEP,
  input: RedisStepInputSchema,
  run: registerCloudAccount,
});
