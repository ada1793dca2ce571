import * as z from "zod";
import { findCloudAccountOfKey, readCloudAccount } from "./lib/cloud-accounts.ts";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import { logger } from "./lib/powertools.ts";
import type { CloudAccount, RedisCloud, RedisTask } from "./lib/redis-cloud.ts";
import type { RegistrationRecord, RegistryItem } from "./lib/registry.ts";
import { type RedisRegistryDeps, redisRegistryStep } from "./lib/registry-step.ts";
import { StepInputSchema } from "./lib/step.ts";

const STEP = "WithdrawRegistration";

/*
 * The rollback's part at Redis, run by the registrar (the only path to Redis's API): deletes the
 * cloud account this execution registered. The registrar runs it once this run's create task has
 * ended, so that a cloud account a fresh task makes is not missed.
 */

export const WithdrawInputSchema = z.object({ ...StepInputSchema.shape });
export type WithdrawInput = z.output<typeof WithdrawInputSchema>;

/** What was deleted at Redis, and what could not be (with the task id an operator needs). */
export interface Withdrawal {
  undone: string[];
  leftBehind: { change: string; error: string }[];
}

const reasonOf = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** The registration this execution asked Redis for; one it found existing is never its to delete. */
const ownRegistration = (item: RegistryItem | undefined, execution: string) =>
  item?.registration?.execution === execution && item.registration.origin === "created"
    ? item.registration
    : undefined;

/**
 * Reads the registry's registration of this execution and deletes its cloud account at Redis.
 * A registry that cannot be read is this withdrawal's failure (transient: the registrar retries).
 */
export async function withdrawRegistration(
  input: WithdrawInput,
  deps: RedisRegistryDeps,
): Promise<Withdrawal> {
  const result: Withdrawal = { undone: [], leftBehind: [] };
  const item = await deps.registry.get(input.target.accountId);
  await undoRegistration(ownRegistration(item, input.execution), deps.redis, result);
  if (result.leftBehind.length > 0) logger.warn("withdrawal left a cloud account behind", { ...result });
  return result;
}

const FINISHED = new Set(["processing-completed", "processing-error"]);

/**
 * Deletes at Redis the cloud account this run registered: by the id the registry recorded, else
 * its task's, else (a POST whose answer was lost) the one of the recorded name whose full key,
 * read by id, is the recorded one. Whatever the id, its key is checked before the delete.
 */
async function undoRegistration(
  registration: RegistrationRecord | undefined,
  redis: RedisCloud,
  result: Withdrawal,
) {
  if (!registration) return;
  const label =
    registration.cloudAccountId !== undefined
      ? `CloudAccount ${registration.cloudAccountId}`
      : registration.taskId !== undefined
        ? `CloudAccount of task ${registration.taskId}`
        : `CloudAccount named ${registration.name}`;
  try {
    if (registration.cloudAccountId === undefined && registration.taskId === undefined) {
      await undoLostRequest(registration, redis, result, label);
      return;
    }
    let id = registration.cloudAccountId;
    if (id === undefined && registration.taskId !== undefined) {
      const task = await redis.getTask(registration.taskId);
      id = task.resourceId;
      if (id === undefined && !FINISHED.has(task.status)) {
        // Redis may still make the account after this run is over: an operator must check.
        result.leftBehind.push({
          change: label,
          error: `task ${registration.taskId} is still ${task.status}: delete its cloud account at Redis once it appears`,
        });
        return;
      }
      // Our only POST's task failed: it made nothing. After several, an earlier one may have.
      if (id === undefined && (registration.requests ?? 1) <= 1) return;
    }
    const { name, accessKeyId } = registration;
    const account = await findCloudAccountOfKey(redis, { name, accessKeyId, knownId: id });
    if (!account) return; // Never made (a failed task, a lost request), or gone already.
    await redis.deleteCloudAccount(account.id);
    result.undone.push(`CloudAccount ${account.id}`);
  } catch (error) {
    if (error instanceof WorkflowError && error.name === "RedisCloudNotFound") return;
    result.leftBehind.push({ change: label, error: reasonOf(error) });
  }
}

const CREATE_COMMAND = "cloudAccountCreateRequest";

/** Redis's clock may run a little behind ours: a task stamped just before the request may be it. */
const CLOCK_SKEW_MS = 60_000;

/** A create task Redis stamped at or after the request (no stamp: it may be). */
const createdSince = (requestedAt: string) => (task: RedisTask) =>
  task.commandType === CREATE_COMMAND &&
  (task.timestamp === undefined || Date.parse(task.timestamp) >= Date.parse(requestedAt) - CLOCK_SKEW_MS);

/**
 * A request recorded as sent whose answer was lost before its task id was recorded. Redis's task
 * list tells what became of it: a completed create task since the request whose cloud account,
 * read by id, has the recorded name and full key is ours, deleted; else the one of that name and
 * key (the path of a task no longer listed). Found nowhere, any create task still in flight may
 * yet make it: each is left behind with its id, for an operator, never counted as undone.
 */
async function undoLostRequest(
  registration: RegistrationRecord,
  redis: RedisCloud,
  result: Withdrawal,
  label: string,
) {
  const { name, accessKeyId } = registration;
  const ours = (account: CloudAccount | undefined) =>
    account?.name === name && account.accessKeyId === accessKeyId;
  let tasks: RedisTask[] | undefined;
  let unlisted: unknown;
  try {
    tasks = (await redis.listTasks()).filter(createdSince(registration.requestedAt));
  } catch (error) {
    unlisted = error;
  }
  const made = new Set(
    (tasks ?? []).flatMap((task) => (task.resourceId === undefined ? [] : [task.resourceId])),
  );
  let account: CloudAccount | undefined;
  for (const id of made) {
    const candidate = await readCloudAccount(redis, id);
    if (ours(candidate)) account = candidate;
    if (account) break;
  }
  account ??= await findCloudAccountOfKey(redis, { name, accessKeyId });
  if (account) {
    await redis.deleteCloudAccount(account.id);
    result.undone.push(`CloudAccount ${account.id}`);
    return;
  }
  if (unlisted !== undefined) {
    result.leftBehind.push({
      change: label,
      error: `Redis Cloud's tasks could not be listed (${reasonOf(unlisted)}): a task of this run's lost request may still make a cloud account named "${name}" with access key ${accessKeyId}`,
    });
    return;
  }
  for (const task of (tasks ?? []).filter((t) => !FINISHED.has(t.status))) {
    result.leftBehind.push({
      change: `CloudAccount of task ${task.taskId}`,
      error: `task ${task.taskId} (${CREATE_COMMAND}, made after this run's lost request) is still ${task.status}: if its cloud account is named "${name}" with access key ${accessKeyId}, it is this run's: delete it at Redis`,
    });
  }
}

export const { run, handler } = defineStep({
  ...redisRegistryStep,
  name: STEP,
  input: WithdrawInputSchema,
  run: withdrawRegistration,
});
