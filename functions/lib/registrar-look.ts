import { WorkflowError } from "./errors.ts";
import type { TickDeps } from "./registrar.ts";
import type { QueuedRequest } from "./registrar-queue.ts";

/*
 * A reconcile's look: the statuses of one page's cloud accounts, answered from the tick's single
 * GET /v1/cloud-accounts (shared with every other look and registration of the tick, and counted
 * in the registrar's budget). A reconcile of 10,000 accounts costs Redis one request per page at
 * most, never one per account, and sends nothing else.
 */

/** A cloud account Redis does not list any more. */
export const NOT_LISTED = "not-listed";

export interface LookAnswer {
  /** By cloud account id (as text: the answer is a JSON object): its status at Redis. */
  cloudAccounts: Record<string, string>;
}

/** True once the waiting reconcile has its answer (or its failure); false: next tick. */
export async function answerLook(
  request: QueuedRequest,
  deps: Pick<TickDeps, "redis" | "tokens" | "queue">,
  isTransient: (error: unknown) => boolean,
): Promise<boolean> {
  let answer: LookAnswer;
  try {
    const listed = await deps.redis.listCloudAccounts();
    const status = new Map(listed.map((account) => [account.id, account.status ?? "unknown"]));
    const ids = request.cloudAccountIds ?? [];
    answer = {
      cloudAccounts: Object.fromEntries(ids.map((id) => [String(id), status.get(id) ?? NOT_LISTED])),
    };
  } catch (error) {
    if (isTransient(error)) return false;
    const named =
      error instanceof WorkflowError ? error : new WorkflowError("UnexpectedError", String(error));
    await deps.tokens.fail(request.taskToken, named.name, `LookAtCloudAccounts: ${named.message}`);
    await deps.queue.remove(request);
    return true;
  }
  await deps.tokens.succeed(request.taskToken, answer);
  await deps.queue.remove(request);
  return true;
}
