import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { toItem } from "../../functions/lib/registry.ts";
import get from "../fixtures/http/get-onboarding.json" with { type: "json" };
import { lambdaContext } from "./aws.ts";

/** A registry item as a later release may store it: new statuses and fields, drift found. */
export function storedItem(accountId: string, extra: Record<string, unknown> = {}) {
  return toItem({
    accountId,
    version: 3,
    status: "active",
    lastExecution: `${accountId}-api-20261121T1956Z`,
    lastOutcome: "succeeded",
    startedBy: "arn:aws:sts::111111111111:assumed-role/platform-operators/alice",
    startedAt: "2026-11-21T19:56:54.000Z",
    updatedAt: "2026-11-21T20:04:10.000Z",
    cloudAccountId: 4242,
    accessKeyId: "AKIAIOSFODNN7EXAMPLE",
    secretArn: `arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/${accountId}-AbCdEf`,
    resources: [
      {
        change: { type: "User", accountId, userName: "redislabs-user" },
        execution: `${accountId}-api-20261121T1956Z`,
        origin: "created",
        recordedAt: "2026-11-21T19:57:00.000Z",
      },
    ],
    registration: {
      name: `aws-${accountId}`,
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      execution: `${accountId}-api-20261121T1956Z`,
      requestedAt: "2026-11-21T19:58:00.000Z",
      origin: "created",
    },
    ...extra,
  });
}

/** An HTTP API request (payload 2.0) for a route, from the GET fixture. */
export function apiRequest(
  routeKey: string,
  path: string,
  parts: {
    pathParameters?: Record<string, string>;
    query?: Record<string, string>;
  } = {},
): APIGatewayProxyEventV2 {
  const event = structuredClone(get) as unknown as APIGatewayProxyEventV2;
  event.routeKey = routeKey;
  event.rawPath = path;
  event.requestContext.http.path = path;
  delete event.pathParameters;
  if (parts.pathParameters) event.pathParameters = parts.pathParameters;
  if (parts.query) {
    event.queryStringParameters = parts.query;
    event.rawQueryString = new URLSearchParams(parts.query).toString();
  }
  return event;
}

export type Answer = APIGatewayProxyStructuredResultV2 & { json: Record<string, unknown> };

/** Calls a handler and reads its JSON answer. */
export async function callHandler(
  handler: (event: never, context: never) => Promise<unknown>,
  event: APIGatewayProxyEventV2,
  name: string,
): Promise<Answer> {
  const context = lambdaContext("111111111111", `redis-cloud-byoc-test-${name}`);
  const response = (await handler(event as never, context as never)) as APIGatewayProxyStructuredResultV2;
  return { ...response, json: JSON.parse(response.body ?? "null") as Record<string, unknown> };
}
