import type { TickDeps } from "./registrar.ts";
import type { QueuedRequest } from "./registrar-queue.ts";

/*
 * The registrar's handling of an offboarding's request (kind `offboard`): one look per tick at the
 * subscriptions and the cloud account, the DELETE, then its task, the task id kept in the request
 * between ticks. A transient failure is looked at again next tick; any other is the execution's
 * answer by name (CloudAccountInUse, RedisTaskFailed, …).
 */

/** True once the offboarding has its answer. */
export async function offboardOne(
  request: QueuedRequest,
  deps: TickDeps,
  isTransient: (error: unknown) => boolean,
): Promise<boolean> {
  const offboard = deps.work.offboard;
  if (!offboard) {
    await deps.tokens.fail(request.taskToken, "ConfigurationError", "the registrar has no offboarding code");
    await deps.queue.remove(request);
    return true;
  }
  try {
    const result = await offboard(request, deps.redis);
    if (!result.done) {
      if (request.registration?.taskId !== result.taskId) {
        const registration = { taskId: result.taskId, cloudAccountId: result.cloudAccountId };
        await deps.queue.update({ ...request, phase: "sent", registration, sentAt: deps.now() });
      }
      return false;
    }
    await deps.tokens.succeed(request.taskToken, result);
  } catch (error) {
    if (isTransient(error)) return false;
    const named = error instanceof Error ? error : new Error(String(error));
    await deps.tokens.fail(request.taskToken, named.name, named.message);
  }
  await deps.queue.remove(request);
  return true;
}
