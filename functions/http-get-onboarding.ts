import type { SFNClient } from "@aws-sdk/client-sfn";
import httpEventNormalizer from "@middy/http-event-normalizer";
import { readSettings } from "./lib/config.ts";
import { ExecutionNameSchema } from "./lib/execution-names.ts";
import { type ApiAnswer, ApiProblem, json, measuredRoute } from "./lib/http.ts";
import { describeOnboarding } from "./lib/onboarding-status.ts";
import { countStatusRead } from "./lib/trigger-metrics.ts";
import { atColdStart, sfnClient } from "./lib/trigger-runtime.ts";

export interface GetRequestDeps {
  sfn: SFNClient;
  stateMachineArn: string;
}

/**
 * GET /onboardings/{id}: the status of one execution of this state machine (the id is its name,
 * so no other state machine's execution can be read through it).
 */
export async function getOnboardingRequest(id: unknown, deps: GetRequestDeps): Promise<ApiAnswer> {
  const name = ExecutionNameSchema.safeParse(id);
  if (!name.success) {
    throw new ApiProblem(
      400,
      'id: not an onboarding id (1 to 80 characters, no spaces, brackets or any of ?*"#%\\^|~`$&,;:/)',
    );
  }
  const status = await describeOnboarding(deps.sfn, deps.stateMachineArn, name.data);
  if (!status) throw new ApiProblem(404, "id: no onboarding has this id");
  return { statusCode: 200, body: { ...status } };
}

/** The function's environment, one schema: a bad setting stops it with ConfigurationError naming it. */
export const GET_REQUEST_SETTINGS = ["logLevel", "stateMachineArn"] as const;

export function getRequestDeps(env: Record<string, string | undefined>): GetRequestDeps {
  const { stateMachineArn } = readSettings(GET_REQUEST_SETTINGS, env);
  return { sfn: sfnClient(), stateMachineArn };
}

/** The Lambda handler around `getOnboardingRequest`, with its dependencies loaded on first use. */
export function createHandler(load: () => GetRequestDeps) {
  const deps = atColdStart(load);
  // A 404 is a refusal too, but its own outcome: an id mistyped, or of another stage.
  return measuredRoute(httpEventNormalizer(), (outcome, status) =>
    countStatusRead(status === 404 ? "notFound" : outcome),
  ).handler(async (event) => {
    const answer = await getOnboardingRequest(event.pathParameters?.id, deps());
    countStatusRead("answered");
    return json(answer);
  });
}

export const handler = createHandler(() => getRequestDeps(process.env));
