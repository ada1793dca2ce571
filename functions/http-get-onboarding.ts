import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import httpErrorHandler from "@middy/http-error-handler";
import httpEventNormalizer from "@middy/http-event-normalizer";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import {
  type ApiAnswer,
  ApiProblem,
  describeOnboarding,
  INTERNAL_ERROR,
  isExecutionName,
  json,
  loadStateMachineArn,
  problemsAsJson,
} from "./lib/executions.ts";
import { logger } from "./lib/powertools.ts";

export interface GetRequestDeps {
  sfn: SFNClient;
  stateMachineArn: string;
}

/**
 * GET /onboardings/{id}: the status of one execution of this state machine (the id is its name,
 * so no other state machine's execution can be read through it).
 */
export async function getOnboardingRequest(id: unknown, deps: GetRequestDeps): Promise<ApiAnswer> {
  if (!isExecutionName(id)) {
    throw new ApiProblem(
      400,
      'id: not an onboarding id (1 to 80 characters, no spaces, brackets or any of ?*"#%\\^|~`$&,;:/)',
    );
  }
  const status = await describeOnboarding(deps.sfn, deps.stateMachineArn, id);
  if (!status) throw new ApiProblem(404, "id: no onboarding has this id");
  return { statusCode: 200, body: { ...status } };
}

const stateMachineArn = loadStateMachineArn(process.env);
const sfn = new SFNClient({});

export const handler = middy<APIGatewayProxyEventV2>()
  .use(injectLambdaContext(logger))
  .use(httpEventNormalizer())
  .use(httpErrorHandler({ logger: false, fallbackMessage: INTERNAL_ERROR }))
  .use(problemsAsJson())
  .handler(async (event) =>
    json(await getOnboardingRequest(event.pathParameters?.id, { sfn, stateMachineArn })),
  );
