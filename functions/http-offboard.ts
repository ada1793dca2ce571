import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import httpErrorHandler from "@middy/http-error-handler";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { readSettings } from "./lib/config.ts";
import { executionName } from "./lib/execution-names.ts";
import {
  type ApiAnswer,
  ApiProblem,
  accountIdParameter,
  callerArn,
  correlateRequest,
  INTERNAL_ERROR,
  json,
  problemsAsJson,
  urlOnSameStage,
} from "./lib/http.ts";
import { STARTED_BY_ARN } from "./lib/onboarding-input.ts";
import { logger } from "./lib/powertools.ts";
import { RedrivesExhausted, startUnlessRunning } from "./lib/start-execution.ts";
import { atColdStart, sfnClient } from "./lib/trigger-runtime.ts";
import { offboardExecutionName } from "./offboard-from-event.ts";

/*
 * DELETE /accounts/{accountId} (IAM-authorized): starts the account's offboarding, or answers the
 * one running; 202 with the status URL (GET /offboardings/{id}). The account id is the only input.
 */

export interface OffboardRequestDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  now: () => Date;
  statusUrl: (id: string) => string;
  caller?: string | undefined;
}

export async function offboardRequest(parameter: unknown, deps: OffboardRequestDeps): Promise<ApiAnswer> {
  const accountId = accountIdParameter(parameter);
  const caller = deps.caller !== undefined && STARTED_BY_ARN.test(deps.caller) ? deps.caller : undefined;
  const input = { accountId, ...(caller ? { startedBy: caller } : {}) };
  const name = offboardExecutionName(accountId, "api", deps.now());
  let outcome: Awaited<ReturnType<typeof startUnlessRunning>>;
  try {
    outcome = await startUnlessRunning(deps.sfn, deps.stateMachineArn, { name, input });
  } catch (error) {
    if (!(error instanceof RedrivesExhausted)) throw error;
    throw new ApiProblem(
      409,
      "the offboardings of this account started this minute have all failed; retry in a minute",
    );
  }
  const id = executionName(outcome.executionArn);
  const location = deps.statusUrl(id);
  return {
    statusCode: outcome.kind === "started" ? 202 : 200,
    headers: { Location: location },
    body: { executionArn: outcome.executionArn, id, statusUrl: location },
  };
}

/** Where the offboarding's status is read, on the same API and stage. */
export const offboardingStatusUrl = (event: APIGatewayProxyEventV2, id: string): string =>
  urlOnSameStage(event, "offboardings", id);

export function createHandler(load: () => Pick<OffboardRequestDeps, "sfn" | "stateMachineArn">) {
  const deps = atColdStart(load);
  return middy<APIGatewayProxyEventV2>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(correlateRequest())
    .use(httpErrorHandler({ logger: false, fallbackMessage: INTERNAL_ERROR }))
    .use(problemsAsJson(() => {}))
    .handler(async (event) => {
      const answer = await offboardRequest(event.pathParameters?.accountId, {
        ...deps(),
        now: () => new Date(),
        statusUrl: (id) => offboardingStatusUrl(event, id),
        caller: callerArn(event),
      });
      logger.info("offboarding requested", { statusCode: answer.statusCode, id: answer.body.id });
      return json(answer);
    });
}

export const handler = createHandler(() => {
  const { offboardingStateMachineArn } = readSettings(
    ["logLevel", "offboardingStateMachineArn"],
    process.env,
  );
  return { sfn: sfnClient(), stateMachineArn: offboardingStateMachineArn };
});
