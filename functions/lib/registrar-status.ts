import { TRANSIENT_ERRORS, WorkflowError } from "./errors.ts";
import type { TickDeps } from "./registrar.ts";
import type { QueuedRequest, RequestKind } from "./registrar-queue.ts";
import { BudgetSpent } from "./registrar-redis.ts";

/*
 * The registrar's part of credential rotation. A `rotate` request is followed as a registration is
 * (its PUT, its task, the account back to `active`); a `status` request is answered from the tick's
 * one look at the cloud accounts, so that asking costs the budget nothing more than the look.
 */

/** Requests the registrar sends to Redis and follows to `active`: a registration, or a rotation's PUT. */
export const isRegistration = (kind: RequestKind): boolean => kind === "register" || kind === "rotate";

/** What a `status` request answers: ids and Redis's word, never a secret. */
export interface CloudAccountStatus {
  cloudAccountId: number;
  status: string;
  accessKeyId: string | null;
}

/** Answers a status request; false while Redis cannot be asked (the next tick asks again). */
export async function answerStatus(request: QueuedRequest, deps: TickDeps): Promise<boolean> {
  const cloudAccountId = request.registration?.cloudAccountId;
  try {
    if (cloudAccountId === undefined) {
      throw new WorkflowError("InvalidInput", "RotationStatus: the request names no cloudAccountId");
    }
    const account = await deps.redis.getCloudAccount(cloudAccountId);
    const answer: CloudAccountStatus = {
      cloudAccountId,
      status: account.status ?? "unknown",
      accessKeyId: account.accessKeyId ?? null,
    };
    await deps.tokens.succeed(request.taskToken, answer);
  } catch (error) {
    const name = (error as Error).name;
    if (error instanceof BudgetSpent || (TRANSIENT_ERRORS as readonly string[]).includes(name)) return false;
    const message = error instanceof Error ? error.message : String(error);
    await deps.tokens.fail(request.taskToken, name || "UnexpectedError", message);
  }
  await deps.queue.remove(request);
  return true;
}
