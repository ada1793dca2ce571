import * as z from "zod";
import { readCloudAccount } from "./lib/cloud-accounts.ts";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import { type RedisCloud, RedisCloudError } from "./lib/redis-cloud.ts";
import type { RegistryItem } from "./lib/registry.ts";
import { type RedisRegistryDeps, redisRegistryStep } from "./lib/registry-step.ts";
import { StepInputSchema } from "./lib/step.ts";

const STEP = "OffboardAtRedis";

/*
 * The offboarding's part at Redis, run by the registrar (the only path to Redis's API), one look
 * per tick: first the subscriptions (a cloud account a subscription uses is refused, and nothing
 * is changed), then the DELETE, then its task followed until it ends. Between ticks the registrar
 * keeps the delete's task id in the request (`registration`), so a tick never deletes twice.
 */

export const OffboardAtRedisInputSchema = z.object({
  ...StepInputSchema.shape,
  /** The delete already sent: its task, and the cloud account it deletes. */
  registration: z
    .object({ taskId: z.string().min(1).optional(), cloudAccountId: z.number().optional() })
    .optional(),
});
export type OffboardAtRedisInput = z.output<typeof OffboardAtRedisInputSchema>;

/** Done (the cloud account is gone, or there was none), or its delete task still runs. */
export type OffboardAtRedisResult =
  | { done: true; cloudAccountId: number | null; deleted: boolean }
  | { done: false; taskId: string; cloudAccountId: number };

const WAITING = new Set(["initialized", "received", "processing-in-progress"]);

/** The cloud account the registry says the product holds for the account, if any. */
export function cloudAccountOf(item: RegistryItem | undefined): number | undefined {
  if (!item) return undefined;
  if (item.cloudAccountId !== undefined) return item.cloudAccountId;
  // An onboarding that failed after Redis made the account, and whose rollback could not withdraw it.
  const registration = item.registration;
  return registration?.origin === "created" ? registration.cloudAccountId : undefined;
}

export async function offboardAtRedis(
  input: OffboardAtRedisInput,
  deps: RedisRegistryDeps,
): Promise<OffboardAtRedisResult> {
  const sent = input.registration;
  if (sent?.taskId !== undefined && sent.cloudAccountId !== undefined) {
    return followDelete(sent.taskId, sent.cloudAccountId, deps.redis);
  }
  const id = cloudAccountOf(await deps.registry.get(input.target.accountId));
  if (id === undefined) return { done: true, cloudAccountId: null, deleted: false };
  const using = (await deps.redis.listSubscriptions()).filter((s) => s.cloudAccountIds.includes(id));
  if (using.length > 0) {
    const ids = using.map((s) => s.id).join(", ");
    throw new WorkflowError(
      "CloudAccountInUse",
      `${STEP}: Redis Cloud cloud account ${id} of account ${input.target.accountId} is used by subscription(s) ${ids}: delete them first; nothing was changed`,
    );
  }
  if (!(await readCloudAccount(deps.redis, id))) return { done: true, cloudAccountId: id, deleted: false };
  try {
    const task = await deps.redis.deleteCloudAccount(id);
    return { done: false, taskId: task.taskId, cloudAccountId: id };
  } catch (error) {
    // Deleted between the read and the DELETE (by a lost answer's earlier DELETE): gone is done.
    if (error instanceof RedisCloudError && error.status === 404) {
      return { done: true, cloudAccountId: id, deleted: false };
    }
    throw error;
  }
}

/** The delete's task: still running (or too fresh to be listed), done, or failed by name. */
async function followDelete(taskId: string, id: number, redis: RedisCloud): Promise<OffboardAtRedisResult> {
  let task: Awaited<ReturnType<RedisCloud["getTask"]>>;
  try {
    task = await redis.getTask(taskId);
  } catch (error) {
    if (error instanceof RedisCloudError && error.status === 404) {
      // A fresh task answers 404; the cloud account gone means the delete was done.
      if (!(await readCloudAccount(redis, id))) return { done: true, cloudAccountId: id, deleted: true };
      return { done: false, taskId, cloudAccountId: id };
    }
    throw error;
  }
  if (WAITING.has(task.status)) return { done: false, taskId, cloudAccountId: id };
  if (task.status === "processing-completed") return { done: true, cloudAccountId: id, deleted: true };
  throw new WorkflowError(
    "RedisTaskFailed",
    `${STEP}: Redis Cloud task ${taskId} deleting cloud account ${id} ended ${task.status}${task.error?.type ? ` (${task.error.type})` : ""}`,
  );
}

export const { run, handler } = defineStep({
  ...redisRegistryStep,
  name: STEP,
  input: OffboardAtRedisInputSchema,
  run: offboardAtRedis,
});
