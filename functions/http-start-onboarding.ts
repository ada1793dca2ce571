import type { SFNClient } from "@aws-sdk/client-sfn";
import { StartExecutionCommand } from "@aws-sdk/client-sfn";
import httpHeaderNormalizer from "@middy/http-header-normalizer";
import httpJsonBodyParser from "@middy/http-json-body-parser";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { readSettings } from "./lib/config.ts";
import { apiExecutionName, executionName, planExecutionName } from "./lib/execution-names.ts";
import {
  type ApiAnswer,
  ApiProblem,
  bodyLimit,
  callerArn,
  json,
  measuredRoute,
  statusUrl,
} from "./lib/http.ts";
import { STARTED_BY_ARN, type StartInput } from "./lib/onboarding-input.ts";
import { logger } from "./lib/powertools.ts";
import {
  isAwsError,
  MAX_ATTEMPTS,
  RedrivesExhausted,
  type StartOutcome,
  startUnlessRunning,
} from "./lib/start-execution.ts";
import { parseStartInput } from "./lib/start-input.ts";
import { countStart } from "./lib/trigger-metrics.ts";
import { atColdStart, sfnClient } from "./lib/trigger-runtime.ts";

/** The body is three short fields; anything bigger is not an onboarding request. */
export const MAX_BODY_BYTES = 4096;

export interface StartRequestDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  allowedRoleNames: string[];
  now: () => Date;
  statusUrl: (id: string) => string;
  /** The caller's IAM ARN from the route's IAM authorizer: it goes into the registry and events. */
  caller?: string | undefined;
}

/** The answer, and which start it was (for the metric of its outcome). */
export interface StartAnswer extends ApiAnswer {
  outcome: StartOutcome["kind"];
}

/**
 * POST /onboardings: starts an onboarding of `accountId`, or answers the one already running for
 * it (200, same id) instead of starting a second; a repeat within the minute of a run that failed
 * starts a new one (the minute's name with the next suffix, see attemptName). The body is checked
 * against the state machine's own input schema (with accountId required) and the deployment's
 * role names, so nothing starts that its first state would refuse. How concurrent requests are
 * collapsed: startUnlessRunning.
 */
export async function startOnboardingRequest(body: unknown, deps: StartRequestDeps): Promise<StartAnswer> {
  const parsed = parseStartInput(body);
  if ("problem" in parsed) throw new ApiProblem(400, parsed.problem);
  const input = withCaller(parsed.input, deps.caller);
  if (input.roleName !== undefined && !deps.allowedRoleNames.includes(input.roleName)) {
    throw new ApiProblem(
      400,
      `roleName: this deployment may only assume ${deps.allowedRoleNames.join(" or ")} (setting TARGET_ROLE_NAMES)`,
    );
  }
  const now = deps.now();
  const retryAfter = 60 - now.getUTCSeconds();
  const outcome = await startOrRedrive(
    deps,
    { name: apiExecutionName(input.accountId, now), input },
    retryAfter,
  );
  const id = executionName(outcome.executionArn);
  const location = deps.statusUrl(id);
  const reference = { executionArn: outcome.executionArn, id, statusUrl: location };
  if (outcome.kind === "taken") {
    // A run of this minute has already succeeded: the next minute's name may start another.
    return {
      outcome: outcome.kind,
      statusCode: 409,
      headers: { "Retry-After": String(retryAfter) },
      body: {
        message: `an onboarding of this account started this minute has already succeeded; retry in ${retryAfter} s to run another`,
        ...reference,
      },
    };
  }
  return {
    outcome: outcome.kind,
    statusCode: outcome.kind === "started" ? 202 : 200,
    headers: { Location: location },
    body: reference,
  };
}

/**
 * The minute's name, or its next re-drive when its runs failed. Every name of the minute taken by
 * a failed run is a client's loop rather than an onboarding: refused until the next minute.
 */
async function startOrRedrive(
  deps: StartRequestDeps,
  start: Parameters<typeof startUnlessRunning>[2],
  retryAfter: number,
): Promise<StartOutcome> {
  try {
    return await startUnlessRunning(deps.sfn, deps.stateMachineArn, start);
  } catch (error) {
    if (!(error instanceof RedrivesExhausted)) throw error;
    throw new ApiProblem(
      409,
      `the last ${MAX_ATTEMPTS} onboardings of this account started this minute have all failed; retry in ${retryAfter} s`,
    );
  }
}

/**
 * POST /plans: starts a plan of `accountId` (the same body as POST /onboardings): a run that only
 * reads and answers the writes an onboarding would make. It runs next to anything, writes nothing,
 * and the same request in the same minute answers the plan already started (200).
 */
export async function startPlanRequest(body: unknown, deps: StartRequestDeps): Promise<StartAnswer> {
  const parsed = parseStartInput(body);
  if ("problem" in parsed) throw new ApiProblem(400, parsed.problem);
  const { plan: _asked, ...rest } = parsed.input;
  const input = withCaller({ ...rest, plan: true }, deps.caller);
  if (input.roleName !== undefined && !deps.allowedRoleNames.includes(input.roleName)) {
    throw new ApiProblem(
      400,
      `roleName: this deployment may only assume ${deps.allowedRoleNames.join(" or ")} (setting TARGET_ROLE_NAMES)`,
    );
  }
  const name = planExecutionName(input.accountId, deps.now());
  let outcome: StartOutcome["kind"] = "started";
  let arn: string | undefined;
  try {
    const answer = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.stateMachineArn,
        name,
        input: JSON.stringify(input),
      }),
    );
    arn = answer.executionArn;
  } catch (error) {
    // Same name, other input (another body this minute): that plan is answered, not this one.
    if (!isAwsError(error, "ExecutionAlreadyExists")) throw error;
    outcome = "running";
  }
  const id = arn ? executionName(arn) : name;
  const location = deps.statusUrl(id);
  return {
    outcome,
    statusCode: outcome === "started" ? 202 : 200,
    headers: { Location: location },
    body: { id, statusUrl: location, ...(arn ? { executionArn: arn } : {}) },
  };
}

/**
 * The input with who asked for it, last (equal starts stay equal JSON). An ARN the schema would
 * refuse (never expected of API Gateway) is left out, so that the run is not refused for it.
 */
function withCaller(input: StartInput, caller: string | undefined): StartInput & { startedBy?: string } {
  return caller !== undefined && STARTED_BY_ARN.test(caller) ? { ...input, startedBy: caller } : input;
}

/** What the handler keeps for the container's life: the client and its settings. */
export type StartHandlerDeps = Pick<StartRequestDeps, "sfn" | "stateMachineArn" | "allowedRoleNames">;

/** The function's environment, one schema: a bad setting stops it with ConfigurationError naming it. */
export const START_REQUEST_SETTINGS = ["logLevel", "stateMachineArn", "allowedTargetRoleNames"] as const;

export function startHandlerDeps(env: Record<string, string | undefined>): StartHandlerDeps {
  const { stateMachineArn, allowedTargetRoleNames } = readSettings(START_REQUEST_SETTINGS, env);
  return { sfn: sfnClient(), stateMachineArn, allowedRoleNames: allowedTargetRoleNames };
}

type ParsedEvent = Omit<APIGatewayProxyEventV2, "body"> & { body?: unknown };

/** The Lambda handler around `startOnboardingRequest`, with its dependencies loaded on first use. */
export function createHandler(load: () => StartHandlerDeps) {
  const deps = atColdStart(load);
  return measuredRoute(httpHeaderNormalizer(), (outcome) => countStart("api", outcome))
    .use(bodyLimit(MAX_BODY_BYTES))
    .use(httpJsonBodyParser())
    .handler(async (event) => {
      // One function behind both routes: the body and the checks are the same.
      const planning = event.routeKey === "POST /plans";
      const start = planning ? startPlanRequest : startOnboardingRequest;
      const answer = await start((event as ParsedEvent).body, {
        ...deps(),
        now: () => new Date(),
        statusUrl: (id) => statusUrl(event, id),
        caller: callerArn(event),
      });
      countStart("api", answer.outcome);
      logger.info(planning ? "plan requested" : "onboarding requested", {
        statusCode: answer.statusCode,
        id: answer.body.id,
      });
      return json(answer);
    });
}

export const handler = createHandler(() => startHandlerDeps(process.env));
