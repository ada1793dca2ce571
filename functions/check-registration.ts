import { createHash } from "node:crypto";
import { PutSecretValueCommand, TagResourceCommand } from "@aws-sdk/client-secrets-manager";
import { ALREADY_REGISTERED, adoptRegisteredAccount, cloudAccountName } from "./lib/cloud-accounts.ts";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import { type RedisStepInput, RedisStepInputSchema, readAccountCredentials } from "./lib/redis-api-keys.ts";
import { type CloudAccount, type RateLimit, RedisCloudError, type RedisTask } from "./lib/redis-cloud.ts";
import { type Registration, RegistrationSchema } from "./lib/registration.ts";
import type { RegistrationRecord, Registry } from "./lib/registry.ts";
import { type RedisRegistryDeps, redisRegistryStep } from "./lib/registry-step.ts";
import { StepRecorder } from "./lib/step.ts";

const STEP = "CheckRegistration";

export type { Registration };

/** The secret's tag that names its cloud account, so that a re-run or an offboarding finds it. */
export const CLOUD_ACCOUNT_TAG = "redis-cloud:cloud-account-id";

/** The state machine passes RegisterCloudAccount's output (then this step's) as `registration`. */
export const CheckInputSchema = RedisStepInputSchema.extend({ registration: RegistrationSchema });

export type CheckInput = RedisStepInput & { registration: Registration };

export interface CheckResult {
  status: "pending" | "active";
  taskId?: string;
  cloudAccountId?: number;
  reused?: boolean;
  /** Following an update of an existing cloud account to this run's key. */
  updated?: boolean;
  attempt: number;
  /** How long the state machine waits before the next check. */
  waitSeconds: number;
}

export interface CheckDeps extends RedisRegistryDeps {
  /** It also records the tag it puts on a secret this run adopted. */
  registry: RedisRegistryDeps["registry"] & Pick<Registry, "recordChange">;
  /** In [0, 1): the jitter of the wait. */
  random?: () => number;
  /** Checks after which a registration still pending fails (about 4 hours at the longest wait). */
  maxAttempts?: number;
}

const WAITING = new Set(["initialized", "received", "processing-in-progress"]);
const INVALID_CREDS = "CLOUD_ACCOUNT_INVALID_CREDS";
const MAX_ATTEMPTS = 240;

/**
 * Step 7b: follows the registration task, then the cloud account, until Redis says `active`;
 * then records the cloud account id with the credentials secret. Each call is one look: the
 * state machine loops, waiting `waitSeconds` between looks. An update (a new key for an existing
 * cloud account, active all along) is followed to its task's end first, and its account is
 * active only once Redis holds the new key.
 */
export async function checkRegistration(input: CheckInput, deps: CheckDeps): Promise<CheckResult> {
  const rec = new StepRecorder(STEP, input.execution);
  const { taskId, reused, updated } = input.registration;
  const attempt = (input.registration.attempt ?? 0) + 1;
  const random = deps.random ?? Math.random;
  const maxAttempts = deps.maxAttempts ?? MAX_ATTEMPTS;
  const pending = (cloudAccountId?: number): CheckResult =>
    omitUndefined({
      status: "pending" as const,
      taskId,
      cloudAccountId,
      reused,
      updated,
      attempt,
      waitSeconds: waitSeconds(attempt, deps.redis.rateLimit, random),
    });

  let cloudAccountId = input.registration.cloudAccountId;
  let adopted = false;
  let origin: RegistrationRecord["origin"] | undefined;
  if (updated) {
    if (cloudAccountId === undefined)
      throw new WorkflowError("InvalidInput", "registration: an update without its cloudAccountId");
    if (taskId !== undefined && !(await updateDone(taskId, attempt, maxAttempts, deps))) {
      return pending(cloudAccountId);
    }
  } else if (cloudAccountId === undefined) {
    if (taskId === undefined)
      throw new WorkflowError("InvalidInput", "registration: has neither taskId nor cloudAccountId");
    const task = await lookUp(() => deps.redis.getTask(taskId));
    if (!task || WAITING.has(task.status)) {
      if (attempt >= maxAttempts) {
        throw stuck(`Redis Cloud task ${taskId} is still ${task?.status ?? "not found"}`, attempt);
      }
      return pending();
    }
    const outcome = await taskOutcome(task, input, deps);
    cloudAccountId = outcome.cloudAccountId;
    adopted = outcome.adopted;
    // Before anything else can fail: the rollback learns the id from the registry only.
    origin = await recordCloudAccountId(input, deps, cloudAccountId, adopted, rec);
  }

  // A cloud account our task just made may not be readable yet; one found by key must be.
  const account = await lookUp(
    () => deps.redis.getCloudAccount(cloudAccountId),
    taskId !== undefined && !updated,
  );
  const result = { ...pending(cloudAccountId), ...(adopted ? { reused: origin === "found" } : {}) };
  if (account?.status === "active") {
    if (updated) await expectNewKey(account, input, deps, rec);
    await recordCloudAccount(deps, input, cloudAccountId, rec);
    return { ...result, status: "active", waitSeconds: 0 };
  }
  if (account?.status === "active-error") {
    throw new WorkflowError(
      "CloudAccountError",
      `${STEP}: Redis Cloud cloud account ${cloudAccountId} is active-error: Redis cannot use the account's IAM resources; see cloud account ${cloudAccountId} in the Redis Cloud console`,
    );
  }
  if (attempt >= maxAttempts) {
    throw stuck(
      `Redis Cloud cloud account ${cloudAccountId} is still ${statusOf(account)}`,
      attempt,
      "CloudAccountError",
    );
  }
  return result;
}

/**
 * Whether the update's task is done: false while it runs (or is 404, fresh); a failed one is the
 * run's failure, named by its task id.
 */
async function updateDone(taskId: string, attempt: number, maxAttempts: number, deps: CheckDeps) {
  const task = await lookUp(() => deps.redis.getTask(taskId));
  if (!task || WAITING.has(task.status)) {
    if (attempt >= maxAttempts) {
      throw stuck(`Redis Cloud update task ${taskId} is still ${task?.status ?? "not found"}`, attempt);
    }
    return false;
  }
  if (task.status === "processing-completed") return true;
  const type = task.error?.type ?? "UNKNOWN";
  const said = `${type}${task.error?.description ? `: ${task.error.description}` : ""}`;
  if (type === INVALID_CREDS) {
    // As for a create: the state machine asks again once IAM has propagated the key.
    throw new WorkflowError(
      "CloudAccountInvalidCreds",
      `${STEP}: Redis Cloud update task ${taskId} failed (${said}); the key may not have propagated yet: update again after a pause`,
    );
  }
  throw new WorkflowError(
    "RedisTaskFailed",
    `${STEP}: Redis Cloud update task ${taskId} ended ${task.status} (${said}); the cloud account keeps its previous key; quote the task id to Redis support`,
  );
}

/** An updated cloud account is done only on the secret's key, read in full by id. */
async function expectNewKey(account: CloudAccount, input: CheckInput, deps: CheckDeps, rec: StepRecorder) {
  const { accessKeyId } = await readAccountCredentials(
    deps.secrets,
    input.credentialsSecretArn,
    rec,
    ["accessKeyId"],
    input.versionStage,
  );
  if (account.accessKeyId === accessKeyId) return;
  throw new WorkflowError(
    "CloudAccountError",
    `${STEP}: Redis Cloud cloud account ${account.id} holds access key ${account.accessKeyId ?? "(none shown)"}, not ${accessKeyId}, after its update; see it in the Redis Cloud console`,
  );
}

/**
 * A read that answers undefined when there is nothing to see yet: a task is 404 for a few
 * seconds after it is made, and a 429 is only a reason to look later (its Retry-After lengthens
 * the wait). Anything else is the caller's failure.
 */
async function lookUp<T extends RedisTask | CloudAccount>(
  read: () => Promise<T>,
  mayBeNew = true,
): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    const later =
      error instanceof RedisCloudError && (error.status === 429 || (mayBeNew && error.status === 404));
    if (later) return undefined;
    throw error;
  }
}

/**
 * The cloud account id, in the registration this run recorded. One our task made is `created`.
 * One adopted after our task was refused (the key or name was taken) is `found`, unless this
 * execution had sent an earlier POST: that one made it (its answer was lost), so it is this run's.
 * A registration the registry does not know as this execution's is recorded as found: never
 * deleted on a guess.
 */
async function recordCloudAccountId(
  input: CheckInput,
  deps: CheckDeps,
  cloudAccountId: number,
  adopted: boolean,
  rec: StepRecorder,
): Promise<RegistrationRecord["origin"]> {
  const { accountId } = input.target;
  const recorded = (await deps.registry.get(accountId))?.registration;
  const taskId = input.registration.taskId;
  let record: RegistrationRecord;
  if (recorded?.execution === input.execution && recorded.origin === "created") {
    const earlierPost = (recorded.requests ?? 1) > 1;
    const origin = !adopted || earlierPost ? "created" : "found";
    record = { ...recorded, ...(taskId ? { taskId } : {}), cloudAccountId, origin };
  } else {
    const { accessKeyId } = await readAccountCredentials(deps.secrets, input.credentialsSecretArn, rec, [
      "accessKeyId",
    ]);
    const name = cloudAccountName(input.target);
    const requestedAt = new Date().toISOString();
    record = { name, accessKeyId, execution: input.execution, requestedAt, cloudAccountId, origin: "found" };
  }
  await deps.registry.recordRegistration(accountId, record);
  return record.origin;
}

/** A finished task: the cloud account it made, or why it failed. */
async function taskOutcome(task: RedisTask, input: CheckInput, deps: CheckDeps) {
  if (task.status === "processing-completed") {
    if (task.resourceId === undefined) {
      throw new WorkflowError(
        "RedisTaskFailed",
        `${STEP}: Redis Cloud task ${task.taskId} completed without a cloud account id`,
      );
    }
    return { cloudAccountId: task.resourceId, adopted: false };
  }
  const type = task.error?.type ?? "UNKNOWN";
  const said = `${type}${task.error?.description ? `: ${task.error.description}` : ""}`;
  if (type === INVALID_CREDS) {
    throw new WorkflowError(
      "CloudAccountInvalidCreds",
      `${STEP}: Redis Cloud task ${task.taskId} failed (${said}); the key may not have propagated yet: register again after a pause`,
    );
  }
  if (task.status === "processing-error" && ALREADY_REGISTERED.has(type)) {
    // Another run registered the same key first: its cloud account is ours to follow.
    const rec = new StepRecorder(STEP, input.execution);
    const { accessKeyId } = await readAccountCredentials(deps.secrets, input.credentialsSecretArn, rec, [
      "accessKeyId",
    ]);
    const winner = await adoptRegisteredAccount(
      deps.redis,
      accessKeyId,
      cloudAccountName(input.target),
      type,
    );
    return { cloudAccountId: winner.id, adopted: true };
  }
  throw new WorkflowError(
    "RedisTaskFailed",
    `${STEP}: Redis Cloud task ${task.taskId} ended ${task.status} (${said}); quote the task id to Redis support`,
  );
}

/**
 * Records the cloud account id in the secret's value and as its tag, unless already there.
 * The tag goes first: the value's field is what marks the record done, so a failure between the
 * two calls leaves the next check to redo both.
 */
async function recordCloudAccount(
  deps: CheckDeps,
  input: CheckInput,
  cloudAccountId: number,
  rec: StepRecorder,
): Promise<void> {
  const { secrets } = deps;
  const arn = input.credentialsSecretArn;
  // Credential rotation: the pending version carries the id already, and only the rotation labels it.
  if (input.versionStage) return;
  const value = await readAccountCredentials(secrets, arn, rec, ["accessKeyId"]);
  if (value.cloudAccountId === cloudAccountId) return;
  // A secret this run adopted gets its tag taken off again if the run fails: recorded first.
  const { accountId } = input.target;
  const item = await deps.registry.get(accountId);
  const adopted = item?.resources.some(
    (e) =>
      e.origin === "adopted" &&
      e.execution === input.execution &&
      e.change.type === "Secret" &&
      e.change.arn === arn,
  );
  if (adopted) {
    await deps.registry.recordChange(accountId, input.execution, {
      type: "SecretTag",
      arn,
      key: CLOUD_ACCOUNT_TAG,
    });
  }
  await rec.change("TagResource", arn, () =>
    secrets.send(
      new TagResourceCommand({
        SecretId: arn,
        Tags: [{ Key: CLOUD_ACCOUNT_TAG, Value: String(cloudAccountId) }],
      }),
    ),
  );
  await rec.change("PutSecretValue", arn, () =>
    secrets.send(
      new PutSecretValueCommand({
        SecretId: arn,
        SecretString: JSON.stringify({ ...value, cloudAccountId }),
        ClientRequestToken: recordToken(arn, input.execution, value.accessKeyId, cloudAccountId),
      }),
    ),
  );
}

/** A retried write carries the same token, so it cannot store a second version. */
export function recordToken(
  arn: string,
  execution: string,
  accessKeyId: string,
  cloudAccountId: number,
): string {
  const hex = createHash("sha256")
    .update(`${arn}|${execution}|${accessKeyId}|cloud-account|${cloudAccountId}`)
    .digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** First wait, cap and floor of the pause between checks, in seconds. */
export const FIRST_WAIT = 5;
export const MAX_WAIT = 60;
export const MIN_WAIT = 2;
/** Below this many requests left in the minute's window (a fifth of 400), polling backs off. */
export const LOW_REMAINING = 80;
/** The longest wait, even when Redis asks for more. */
export const MAX_RATE_WAIT = 300;

/**
 * The pause before the next check: 5, 10, 20, 40, then 60 s as the ceiling, with full jitter so
 * that concurrent onboardings do not poll in step. The rate headers of the last answer stretch
 * it: with few requests left in the API key's minute window the next check lands in the next
 * window, and a Retry-After is honoured. Together they keep every execution sharing one API key
 * within its 400 requests per minute.
 */
export function waitSeconds(attempt: number, rate: RateLimit, random: () => number): number {
  const ceiling = Math.min(MAX_WAIT, FIRST_WAIT * 2 ** Math.max(0, attempt - 1));
  let wait = Math.ceil(random() * ceiling);
  if (rate.remaining !== undefined && rate.remaining < LOW_REMAINING) {
    wait = Math.max(wait, 30 + Math.ceil(random() * 30));
  }
  if (rate.retryAfterSeconds !== undefined) {
    wait = Math.max(wait, rate.retryAfterSeconds + Math.ceil(random() * FIRST_WAIT));
  }
  return Math.min(MAX_RATE_WAIT, Math.max(MIN_WAIT, wait));
}

function stuck(
  what: string,
  attempt: number,
  name: "RedisTaskFailed" | "CloudAccountError" = "RedisTaskFailed",
) {
  return new WorkflowError(
    name,
    `${STEP}: ${what} after ${attempt} checks; see it in the Redis Cloud console`,
  );
}

function statusOf(account: CloudAccount | undefined): string {
  return account ? (account.status ?? "without a status") : "not found";
}

function omitUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export const {
  run,
  handler,
  parse: parseCheckInput,
} = defineStep({
  ...redisRegistryStep,
  name: STEP,
  input: CheckInputSchema,
  run: checkRegistration,
});
