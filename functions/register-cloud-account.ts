import {
  ALREADY_REGISTERED,
  adoptRegisteredAccount,
  cloudAccountName,
  findCloudAccountOfKey,
  readCloudAccount,
} from "./lib/cloud-accounts.ts";
import { defineStep } from "./lib/define-step.ts";
import { TRANSIENT_ERRORS, WorkflowError } from "./lib/errors.ts";
import { logger } from "./lib/powertools.ts";
import { type RedisStepInput, RedisStepInputSchema, readAccountCredentials } from "./lib/redis-api-keys.ts";
import { type CloudAccount, RedisCloudError } from "./lib/redis-cloud.ts";
import type { RegistrationRecord } from "./lib/registry.ts";
import { type RedisRegistryDeps, redisRegistryStep } from "./lib/registry-step.ts";
import { StepRecorder } from "./lib/step.ts";

const STEP = "RegisterCloudAccount";

/**
 * The cloud account to follow, or the task that creates it. `reused`: it existed before this run,
 * and no rollback deletes it. `updated`: it existed on another key, and `taskId` (when known) is
 * the task that gives it this run's.
 */
export type RegisterResult =
  | { cloudAccountId: number; reused: boolean }
  | { taskId: string; reused: false }
  | { taskId?: string; cloudAccountId: number; reused: true; updated: true };

type Credentials = Awaited<ReturnType<typeof readCredentials>>;

/** The secret's credentials, checked to be the target account's. */
async function readCredentials(input: RedisStepInput, deps: RedisRegistryDeps) {
  const rec = new StepRecorder(STEP, input.execution);
  const credentials = await readAccountCredentials(
    deps.secrets,
    input.credentialsSecretArn,
    rec,
    ["accessKeyId", "secretAccessKey", "consoleUsername", "consolePassword", "signInUrl"],
    input.versionStage,
  );
  const { accountId } = input.target;
  if (credentials.accountId !== undefined && credentials.accountId !== accountId) {
    throw new WorkflowError(
      "UnexpectedError",
      `${STEP}: secret ${input.credentialsSecretArn} holds the credentials of account ${credentials.accountId}, not ${accountId}`,
    );
  }
  return credentials;
}

/**
 * Step 7a: registers the account with Redis Cloud, idempotently. Our cloud account is the one the
 * registry names, else the one of our name whose full key (read by id) is ours: found → reused,
 * unless this execution requested it before (a POST whose answer was lost), which makes it this
 * run's. The registry's cloud account on another key (a key since replaced) is given this run's
 * key (PUT), never a second cloud account: one per AWS account; on our key but active-error, it is
 * given our credentials again (PUT) to be validated anew. Absent → the request is recorded
 * in the registry, then sent; the task id is returned for CheckRegistration to follow. The
 * request carries the secret key and the console password straight from the secret; the registry
 * and the output carry neither.
 */
export async function registerCloudAccount(
  input: RedisStepInput,
  deps: RedisRegistryDeps,
): Promise<RegisterResult> {
  const credentials = await readCredentials(input, deps);
  const { accountId } = input.target;
  const name = cloudAccountName(input.target);
  const { accessKeyId } = credentials;
  const item = await deps.registry.get(accountId);
  const recorded = item?.registration;
  // What an earlier attempt of this execution sent: a cloud account of our key is then ours.
  const mine =
    recorded?.execution === input.execution && recorded.origin === "created" ? recorded : undefined;
  // An update to this key that an earlier attempt of this execution asked for.
  const myUpdate =
    recorded?.execution === input.execution &&
    recorded.kind === "update" &&
    recorded.accessKeyId === accessKeyId
      ? recorded
      : undefined;
  const knownId = recorded?.cloudAccountId ?? item?.cloudAccountId;
  const existing = await findCloudAccountOfKey(deps.redis, { name, accessKeyId, knownId });
  if (existing && myUpdate?.cloudAccountId === existing.id) {
    // Our earlier PUT is done (its answer may have been lost): follow it, record nothing new.
    return updatedResult(existing.id, myUpdate.taskId);
  }
  const settle = async (cloudAccountId: number, ours: boolean): Promise<RegisterResult> => {
    const base = mine ?? { name, accessKeyId, execution: input.execution, requestedAt: now() };
    await deps.registry.recordRegistration(accountId, {
      ...base,
      cloudAccountId,
      origin: ours ? "created" : "found",
    });
    return { cloudAccountId, reused: !ours };
  };
  // The registry's cloud account, on our key, that Redis turned active-error (it could not use
  // the account's IAM resources, since repaired by this run): our credentials are given to it
  // again (PUT), so that Redis validates them anew. Never another's, never a second cloud account.
  if (existing?.status === NOT_USABLE && existing.id === knownId && !mine) {
    return updateKey(existing, { input, deps, credentials, name, previous: myUpdate });
  }
  if (existing) return settle(existing.id, mine !== undefined);
  // The registry's cloud account, still at Redis but on another key: Redis must move to ours.
  const stale = knownId === undefined ? undefined : await readCloudAccount(deps.redis, knownId);
  if (stale) return updateKey(stale, { input, deps, credentials, name, previous: myUpdate });

  // Recorded before it is sent: if the answer is lost, the registry still says who asked.
  const requested: RegistrationRecord = {
    name,
    accessKeyId,
    execution: input.execution,
    requestedAt: now(),
    requests: (mine?.requests ?? 0) + 1,
    origin: "created",
  };
  await deps.registry.recordRegistration(accountId, requested);
  let taskId: string;
  try {
    const task = await deps.redis.createCloudAccount({
      name,
      provider: "AWS",
      accessKeyId,
      accessSecretKey: credentials.secretAccessKey,
      consoleUsername: credentials.consoleUsername,
      consolePassword: credentials.consolePassword,
      signInLoginUrl: credentials.signInUrl,
    });
    taskId = task.taskId;
  } catch (error) {
    // Someone registered our name or key between our look and our POST.
    if (!isAlreadyRegistered(error)) throw error;
    const refusal = error.redisType ?? `HTTP ${error.status}`;
    const winner = await adoptRegisteredAccount(deps.redis, accessKeyId, name, refusal);
    // Only an earlier POST of this execution can have made it for this run.
    return settle(winner.id, (requested.requests ?? 1) > 1);
  }
  await recordTask(accountId, { ...requested, taskId }, deps);
  return { taskId, reused: false };
}

/** Redis's status of a cloud account whose IAM resources it could not use. */
const NOT_USABLE = "active-error";

const updatedResult = (cloudAccountId: number, taskId: string | undefined): RegisterResult => ({
  ...(taskId === undefined ? {} : { taskId }),
  cloudAccountId,
  reused: true,
  updated: true,
});

interface KeyUpdate {
  input: RedisStepInput;
  deps: RedisRegistryDeps;
  credentials: Credentials;
  name: string;
  /** This execution's earlier request of the same update, if any. */
  previous: RegistrationRecord | undefined;
}

/**
 * Gives the existing cloud account this run's key and console credentials. Recorded first, as a
 * create is: from the moment the PUT is sent Redis may be on the new key, and the rollback must
 * know not to delete it. The cloud account stays `found`: it existed before, no rollback deletes it.
 */
async function updateKey(
  account: CloudAccount,
  { input, deps, credentials, name, previous }: KeyUpdate,
): Promise<RegisterResult> {
  const { accountId } = input.target;
  const previousAccessKeyId = previous?.previousAccessKeyId ?? account.accessKeyId;
  const requested: RegistrationRecord = {
    kind: "update",
    name: account.name ?? name,
    accessKeyId: credentials.accessKeyId,
    ...(previousAccessKeyId === undefined ? {} : { previousAccessKeyId }),
    execution: input.execution,
    requestedAt: now(),
    requests: (previous?.requests ?? 0) + 1,
    cloudAccountId: account.id,
    origin: "found",
  };
  await deps.registry.recordRegistration(accountId, requested);
  const { taskId } = await deps.redis.updateCloudAccount(account.id, {
    accessKeyId: credentials.accessKeyId,
    accessSecretKey: credentials.secretAccessKey,
    consoleUsername: credentials.consoleUsername,
    consolePassword: credentials.consolePassword,
    signInLoginUrl: credentials.signInUrl,
  });
  // Never withdrawn: its task's resource is the existing cloud account, not one this run made.
  await recordTask(accountId, { ...requested, taskId }, deps, false);
  return updatedResult(account.id, taskId);
}

const now = () => new Date().toISOString();

/** Attempts at recording the task id before the step gives up on it. */
const RECORD_ATTEMPTS = 3;

/**
 * The task id, recorded after the POST. A registry that stays busy (a transient error) is left to
 * CheckRegistration, which records the id with the cloud account's: failing the step would send a
 * second POST. A registry that refuses for good fails the step, but first the request is withdrawn:
 * no later step could record its cloud account, and the rollback would not know it.
 */
async function recordTask(
  accountId: string,
  record: RegistrationRecord,
  deps: RedisRegistryDeps,
  withdrawable = true,
) {
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.registry.recordRegistration(accountId, record);
      return;
    } catch (error) {
      const transient = (TRANSIENT_ERRORS as readonly string[]).includes((error as Error).name);
      if (transient && attempt < RECORD_ATTEMPTS) continue;
      if (transient) {
        logger.warn("the registration's task id is left to CheckRegistration", { taskId: record.taskId });
        return;
      }
      if (withdrawable) await withdraw(record.taskId as string, deps.redis);
      throw error;
    }
  }
}

/** Polls at the client's pace (300 ms in Lambda): about 30 s, well within the step's minute. */
const WITHDRAW_POLLS = 100;

/** Follows the task to its end and deletes the cloud account it made; reports what it could not. */
async function withdraw(taskId: string, redis: RedisRegistryDeps["redis"]) {
  try {
    for (let poll = 0; poll < WITHDRAW_POLLS; poll++) {
      const task = await redis.getTask(taskId).catch((error: unknown) => {
        // A fresh task is 404 for a few seconds.
        if (error instanceof RedisCloudError && error.status === 404) return undefined;
        throw error;
      });
      if (task?.status === "processing-error") return;
      if (task?.status === "processing-completed") {
        if (task.resourceId !== undefined) await redis.deleteCloudAccount(task.resourceId);
        return;
      }
    }
    logger.error("registration not withdrawn: its task did not end in time", { taskId });
  } catch (error) {
    const reason = error instanceof Error ? error.name : "unknown";
    logger.error("registration not withdrawn", { taskId, reason });
  }
}

function isAlreadyRegistered(error: unknown): error is RedisCloudError {
  if (!(error instanceof RedisCloudError)) return false;
  return (
    ALREADY_REGISTERED.has(error.redisType ?? "") || (error.redisType === undefined && error.status === 409)
  );
}

export const { run, handler } = defineStep({
  ...redisRegistryStep,
  name: STEP,
  input: RedisStepInputSchema,
  run: registerCloudAccount,
});
