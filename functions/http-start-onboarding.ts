import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import httpErrorHandler from "@middy/http-error-handler";
import httpHeaderNormalizer from "@middy/http-header-normalizer";
import httpJsonBodyParser from "@middy/http-json-body-parser";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { loadConfig } from "./lib/config.ts";
import {
  type ApiAnswer,
  ApiProblem,
  apiExecutionName,
  bodyLimit,
  executionName,
  INTERNAL_ERROR,
  json,
  loadStateMachineArn,
  parseOnboardingInput,
  problemsAsJson,
  startUnlessRunning,
  statusUrl,
} from "./lib/executions.ts";
import { logger } from "./lib/powertools.ts";

/** The body is three short fields; anything bigger is not an onboarding request. */
export const MAX_BODY_BYTES = 4096;

export interface StartRequestDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  allowedRoleNames: string[];
  now: () => Date;
  statusUrl: (id: string) => string;
}

/**
 * POST /onboardings: starts an onboarding of `accountId`, or answers the one already running for
 * it (200, same id) instead of starting a second. The body is checked against the state machine's
 * own input schema (with accountId required) and the deployment's role names, so nothing starts
 * that its first state would refuse. How concurrent requests are collapsed: startUnlessRunning.
 */
export async function startOnboardingRequest(body: unknown, deps: StartRequestDeps): Promise<ApiAnswer> {
  const parsed = parseOnboardingInput(body);
  if ("problem" in parsed) throw new ApiProblem(400, parsed.problem);
  const { input } = parsed;
  const roleName = input.roleName;
  if (roleName !== undefined && !deps.allowedRoleNames.includes(roleName)) {
    throw new ApiProblem(
      400,
      `roleName: this deployment may only assume ${deps.allowedRoleNames.join(" or ")} (setting TARGET_ROLE_NAMES)`,
    );
  }
  const now = deps.now();
  const name = apiExecutionName(input.accountId, now);
  const outcome = await startUnlessRunning(deps.sfn, deps.stateMachineArn, { name, input });
  const id = executionName(outcome.executionArn);
  const location = deps.statusUrl(id);
  const reference = { executionArn: outcome.executionArn, id, statusUrl: location };
  if (outcome.kind === "taken") {
    // A run of this minute has already ended (it failed fast): its name cannot be reused yet.
    const retryAfter = 60 - now.getUTCSeconds();
    return {
      statusCode: 409,
      headers: { "Retry-After": String(retryAfter) },
      body: {
        message: `an onboarding of this account started this minute has already ended; retry in ${retryAfter} s`,
        ...reference,
      },
    };
  }
  return {
    statusCode: outcome.kind === "started" ? 202 : 200,
    headers: { Location: location },
    body: reference,
  };
}

const config = loadConfig(process.env);
const stateMachineArn = loadStateMachineArn(process.env);
const sfn = new SFNClient({});

type ParsedEvent = Omit<APIGatewayProxyEventV2, "body"> & { body?: unknown };

export const handler = middy<APIGatewayProxyEventV2>()
  .use(injectLambdaContext(logger))
  .use(httpHeaderNormalizer())
  .use(httpErrorHandler({ logger: false, fallbackMessage: INTERNAL_ERROR }))
  .use(problemsAsJson())
  .use(bodyLimit(MAX_BODY_BYTES))
  .use(httpJsonBodyParser())
  .handler(async (event) => {
    const answer = await startOnboardingRequest((event as ParsedEvent).body, {
      sfn,
      stateMachineArn,
      allowedRoleNames: config.allowedTargetRoleNames,
      now: () => new Date(),
      statusUrl: (id) => statusUrl(event, id),
    });
    logger.info("onboarding requested", { statusCode: answer.statusCode, id: answer.body.id });
    return json(answer);
  });
