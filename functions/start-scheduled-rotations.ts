import { DynamoDBClient, paginateScan } from "@aws-sdk/client-dynamodb";
import type { SFNClient } from "@aws-sdk/client-sfn";
import * as z from "zod";
import { lambdaClients } from "./lib/clients.ts";
import { defineStep } from "./lib/define-step.ts";
import { describeAwsFailure, WorkflowError } from "./lib/errors.ts";
import { logger } from "./lib/powertools.ts";
import { rotationExecutionName, startRotation } from "./lib/rotation-start.ts";
import { ACCOUNT_ID } from "./lib/step.ts";
import { sfnClient } from "./lib/trigger-runtime.ts";

const STEP = "StartScheduledRotations";

/** What the schedule sends: nothing the starter needs (its time is the invocation's). */
const ScheduleEventSchema = z.looseObject({});

export interface ScheduledDeps {
  /** Every account the registry holds as `active` (onboarded), page by page. */
  activeAccounts: () => AsyncIterable<string[]>;
  start: (accountId: string, name: string) => Promise<{ executionArn: string; started: boolean }>;
  now: () => Date;
}

export interface ScheduledResult {
  started: number;
  alreadyStarted: number;
  failed: string[];
}

/**
 * The schedule (every `rotationDays`): one rotation per active account of the registry, named by
 * the account and the day, so that a redelivered schedule starts none twice. Each waits for its
 * account's lock and hands its PUT to the registrar, whose budget paces the whole fleet: starting
 * them all at once costs Redis nothing more than starting them one by one. One start failing
 * stops no other; the failures are named and the invocation fails (the schedule's retry policy
 * runs it again, and the names already taken start nothing twice).
 */
export async function startScheduledRotations(deps: ScheduledDeps): Promise<ScheduledResult> {
  const result: ScheduledResult = { started: 0, alreadyStarted: 0, failed: [] };
  const now = deps.now();
  for await (const page of deps.activeAccounts()) {
    for (const accountId of page) {
      try {
        const outcome = await deps.start(accountId, rotationExecutionName(accountId, "schedule", now));
        if (outcome.started) result.started += 1;
        else result.alreadyStarted += 1;
      } catch (error) {
        result.failed.push(accountId);
        const named = describeAwsFailure(STEP, "StartExecution", `rotation of ${accountId}`, error);
        logger.error("rotation not started", { accountId, errorName: named.name });
      }
    }
  }
  if (result.failed.length > 0) {
    throw new WorkflowError(
      "ServiceFailure",
      `${STEP}: ${result.failed.length} rotations could not be started (accounts ${result.failed.slice(0, 20).join(", ")}); ${result.started} started`,
    );
  }
  return result;
}

async function* scanActive(dynamodb: DynamoDBClient, table: string): AsyncIterable<string[]> {
  const pages = paginateScan(
    { client: dynamodb, pageSize: 500 },
    {
      TableName: table,
      ProjectionExpression: "accountId",
      FilterExpression: "#status = :active",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":active": { S: "active" } },
    },
  );
  for await (const page of pages) {
    yield (page.Items ?? []).flatMap((item) => {
      const id = item.accountId?.S;
      return id && ACCOUNT_ID.test(id) ? [id] : [];
    });
  }
}

/** The starter with its SFN client: the trigger runtime's, or a test's. */
export function scheduledRotationsStep(sfn: () => SFNClient = sfnClient) {
  return defineStep({
    name: STEP,
    input: ScheduleEventSchema,
    settings: ["registryTableName", "rotationStateMachineArn"],
    clients: lambdaClients({ dynamodb: DynamoDBClient }),
    deps: ({ runtime }): ScheduledDeps => ({
      activeAccounts: () => scanActive(runtime.clients.dynamodb(), runtime.config.registryTableName),
      start: (accountId, name) =>
        startRotation(sfn(), runtime.config.rotationStateMachineArn, {
          accountId,
          name,
          startedBy: "schedule",
        }),
      now: () => new Date(),
    }),
    run: (_input, deps) => startScheduledRotations(deps),
  });
}

export const { run, handler } = scheduledRotationsStep();
