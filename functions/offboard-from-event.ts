import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import * as z from "zod";
import { readSettings } from "./lib/config.ts";
import { errorLogFields } from "./lib/errors.ts";
import { logger } from "./lib/powertools.ts";
import { type StartOutcome, startUnlessRunning } from "./lib/start-execution.ts";
import { atColdStart, sfnClient } from "./lib/trigger-runtime.ts";

/*
 * Starts the offboarding of an account Organizations reports closed (the service event
 * CloseAccountResult, state SUCCEEDED) or removed from the organization (the API call
 * RemoveAccountFromOrganization, through CloudTrail). Each names the account; the execution is
 * named after the account and the event's kind, so a redelivered event starts nothing twice.
 * A Control Tower landing zone emits no event of its own when an account is removed.
 */

const ACCOUNT_ID = z.string().regex(/^\d{12}$/);

const CloseAccountResult = z.object({
  source: z.literal("aws.organizations"),
  "detail-type": z.literal("AWS Service Event via CloudTrail"),
  detail: z.object({
    eventName: z.literal("CloseAccountResult"),
    serviceEventDetails: z.object({
      closeAccountStatus: z.object({ accountId: ACCOUNT_ID, state: z.literal("SUCCEEDED") }),
    }),
  }),
});

const RemoveAccount = z.object({
  source: z.literal("aws.organizations"),
  "detail-type": z.literal("AWS API Call via CloudTrail"),
  detail: z.object({
    eventName: z.literal("RemoveAccountFromOrganization"),
    // A refused call names the account too: it removed nothing.
    errorCode: z.never().optional(),
    requestParameters: z.object({ accountId: ACCOUNT_ID }),
  }),
});

export type OffboardingEvent =
  | { kind: "closed"; accountId: string }
  | { kind: "removed"; accountId: string }
  | { kind: "ignored"; reason: string };

/** The account an event names, and why; anything else is ignored, never an error. */
export function readOffboardingEvent(event: unknown): OffboardingEvent {
  const closed = CloseAccountResult.safeParse(event);
  if (closed.success) {
    return { kind: "closed", accountId: closed.data.detail.serviceEventDetails.closeAccountStatus.accountId };
  }
  const removed = RemoveAccount.safeParse(event);
  if (removed.success) return { kind: "removed", accountId: removed.data.detail.requestParameters.accountId };
  return { kind: "ignored", reason: "not a successful CloseAccountResult or RemoveAccountFromOrganization" };
}

/** `<account>-offboard-closed` / `<account>-offboard-removed`: one offboarding per event kind. */
export const offboardExecutionName = (accountId: string, kind: "closed" | "removed" | "api", at?: Date) =>
  kind === "api" && at
    ? `${accountId}-offboard-api-${at.toISOString().slice(0, 16).replace(/[-:]/g, "")}Z`
    : `${accountId}-offboard-${kind}`;

export interface OffboardStarterDeps {
  sfn: SFNClient;
  stateMachineArn: string;
}

export type OffboardFromEventResult =
  | { outcome: "ignored"; reason: string }
  | { outcome: StartOutcome["kind"]; accountId: string; executionArn: string };

export async function offboardFromEvent(
  event: unknown,
  deps: OffboardStarterDeps,
): Promise<OffboardFromEventResult> {
  const reading = readOffboardingEvent(event);
  if (reading.kind === "ignored") return { outcome: "ignored", reason: reading.reason };
  const name = offboardExecutionName(reading.accountId, reading.kind);
  // The execution's name says what started it; the input is the console's.
  const outcome = await startUnlessRunning(deps.sfn, deps.stateMachineArn, {
    name,
    input: { accountId: reading.accountId },
  });
  return { outcome: outcome.kind, accountId: reading.accountId, executionArn: outcome.executionArn };
}

export function createHandler(load: () => OffboardStarterDeps) {
  const deps = atColdStart(load);
  return middy<unknown, OffboardFromEventResult, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: ({ error }) =>
        logger.error(
          "offboarding event failed; Lambda retries it, then dead-letters it",
          errorLogFields(error),
        ),
    })
    .handler(async (event) => {
      const result = await offboardFromEvent(event, deps());
      logger.info("offboarding event handled", { ...result });
      return result;
    });
}

export const handler = createHandler(() => {
  const { offboardingStateMachineArn } = readSettings(["offboardingStateMachineArn"], process.env);
  return { sfn: sfnClient(), stateMachineArn: offboardingStateMachineArn };
});
