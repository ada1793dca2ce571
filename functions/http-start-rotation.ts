import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import httpErrorHandler from "@middy/http-error-handler";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { readSettings } from "./lib/config.ts";
import { executionName } from "./lib/execution-names.ts";
import {
  type ApiAnswer,
  accountIdParameter,
  callerArn,
  correlateRequest,
  INTERNAL_ERROR,
  json,
  problemsAsJson,
} from "./lib/http.ts";
import { logger } from "./lib/powertools.ts";
import { rotationExecutionName, startRotation } from "./lib/rotation-start.ts";
import { atColdStart, sfnClient } from "./lib/trigger-runtime.ts";

export interface RotationRequestDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  now: () => Date;
  /** The caller's IAM ARN from the route's IAM authorizer: it goes into the registry and events. */
  caller?: string | undefined;
}

/**
 * POST /accounts/{accountId}/rotations: starts a rotation of the account's key and console
 * password (202, with where to follow it). The same request within the same minute answers the
 * rotation it started (200). Whether the account is onboarded is the rotation's first question
 * (NotOnboarded), asked under the account's lock.
 */
export async function startRotationRequest(parameter: string | undefined, deps: RotationRequestDeps) {
  const accountId = accountIdParameter(parameter);
  const name = rotationExecutionName(accountId, "api", deps.now());
  const outcome = await startRotation(deps.sfn, deps.stateMachineArn, {
    accountId,
    name,
    startedBy: deps.caller ?? "api",
  });
  const id = executionName(outcome.executionArn);
  const answer: ApiAnswer = {
    statusCode: outcome.started ? 202 : 200,
    body: {
      executionArn: outcome.executionArn,
      id,
      // Step Functions' own status of the execution (the rotation has no GET route of its own).
      statusUrl: `https://console.aws.amazon.com/states/home#/v2/executions/details/${encodeURIComponent(outcome.executionArn)}`,
    },
  };
  return answer;
}

const deps = atColdStart(() => ({
  sfn: sfnClient(),
  ...readSettings(["rotationStateMachineArn"], process.env),
}));

export const handler = middy(async (event: APIGatewayProxyEventV2) => {
  const { sfn, rotationStateMachineArn } = deps();
  const caller = callerArn(event);
  const answer = await startRotationRequest(event.pathParameters?.accountId, {
    sfn,
    stateMachineArn: rotationStateMachineArn,
    now: () => new Date(),
    caller,
  });
  return json(answer);
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(correlateRequest())
  .use(httpErrorHandler({ logger: false, fallbackMessage: INTERNAL_ERROR }))
  // The start's outcome is in the logs; the onboarding's start metrics are not the rotation's.
  .use(problemsAsJson(() => {}));
