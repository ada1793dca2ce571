import {
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { handler } from "../../functions/http-start-onboarding.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import post from "../fixtures/http/post-onboardings.json" with { type: "json" };
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";
import { runningListing } from "../support/sfn.ts";

/*
 * POST /plans: the onboarding's body, answered by a run that only reads. It is named apart from
 * the onboardings of its account, so that it neither waits for one nor is taken for one.
 */

const sfnMock = mockClient(SFNClient);
const context = lambdaContext("111111111111", "redis-cloud-byoc-test-httpStartOnboarding");
const NOW = new Date("2026-11-21T19:56:53.528Z");
const PLAN = "plan-222222222222-api-20261121T1956Z";
const CALLER = post.requestContext.authorizer.iam.userArn;

function planRequest(body: string = post.body): APIGatewayProxyEventV2 {
  const event = structuredClone(post) as unknown as APIGatewayProxyEventV2;
  event.routeKey = "POST /plans";
  event.rawPath = "/plans";
  event.body = body;
  return event;
}

async function call(event: APIGatewayProxyEventV2) {
  const response = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
  return { ...response, json: JSON.parse(response.body ?? "null") as Record<string, unknown> };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"], now: NOW });
  sfnMock.reset();
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(STATE_MACHINE_ARN, input.name),
    startDate: NOW,
  }));
});
afterEach(() => vi.useRealTimers());

describe("POST /plans", () => {
  it("starts a plan of the account with the caller named, and answers 202 with its status URL", async () => {
    const answer = await call(planRequest());

    expect(answer.statusCode).toBe(202);
    expect(answer.json).toMatchObject({
      id: PLAN,
      statusUrl: expect.stringContaining(`/onboardings/${PLAN}`),
    });
    const start = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(start?.name).toBe(PLAN);
    expect(JSON.parse(start?.input ?? "{}")).toEqual({
      accountId: "222222222222",
      roleName: "AWSControlTowerExecution",
      accountName: "payments-prod",
      plan: true,
      startedBy: CALLER,
    });
  });

  it("starts even while an onboarding of the account runs: a plan writes nothing", async () => {
    sfnMock
      .on(ListExecutionsCommand)
      .resolves(runningListing(STATE_MACHINE_ARN, "222222222222-api-20261121T1950Z"));

    const answer = await call(planRequest());

    expect(answer.statusCode).toBe(202);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it("answers the plan already started by the same request this minute with 200", async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} }));

    const answer = await call(planRequest());

    expect(answer.statusCode).toBe(200);
    expect(answer.json.id).toBe(PLAN);
  });

  it("refuses a bad body by field and starts nothing", async () => {
    const answer = await call(planRequest(JSON.stringify({ accountId: "12" })));

    expect(answer.statusCode).toBe(400);
    expect(String(answer.json.message)).toContain("accountId");
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
