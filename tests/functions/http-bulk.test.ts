import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createHandler } from "../../functions/http-bulk.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import post from "../fixtures/http/post-onboardings.json" with { type: "json" };
import { lambdaContext } from "../support/aws.ts";

const MACHINE = "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-bulk-onboarding";
const CALLER = post.requestContext.authorizer.iam.userArn;
const sfnMock = mockClient(SFNClient);
const context = lambdaContext("111111111111", "redis-cloud-byoc-test-httpBulk");
const handler = createHandler(() => ({ sfn: new SFNClient({}), stateMachineArn: MACHINE }));

function request(routeKey: string, body?: unknown, id?: string): APIGatewayProxyEventV2 {
  const event = structuredClone(post) as unknown as APIGatewayProxyEventV2;
  event.routeKey = routeKey;
  event.rawPath = routeKey.split(" ")[1] ?? "";
  if (body === undefined) delete event.body;
  else event.body = JSON.stringify(body);
  if (id !== undefined) event.pathParameters = { id };
  return event;
}

async function call(event: APIGatewayProxyEventV2) {
  const response = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
  return { ...response, json: JSON.parse(response.body ?? "null") as Record<string, unknown> };
}

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(MACHINE, input.name),
    startDate: new Date(),
  }));
});

describe("POST /onboardings/bulk", () => {
  it("starts a bulk run with the body as its input and the caller as startedBy: 202, its id and status URL", async () => {
    const response = await call(
      request("POST /onboardings/bulk", { organization: true, excludeOuIds: ["ou-ab12-33333333"] }),
    );

    expect(response.statusCode).toBe(202);
    const started = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(started?.stateMachineArn).toBe(MACHINE);
    expect(started?.name).toMatch(/^bulk-\d{8}T\d{4}Z-[0-9a-f]{16}$/);
    expect(JSON.parse(started?.input ?? "")).toEqual({
      organization: true,
      excludeOuIds: ["ou-ab12-33333333"],
      startedBy: CALLER,
    });
    expect(response.json.id).toBe(started?.name);
    expect(response.json.statusUrl).toMatch(/\/onboardings\/bulk\/bulk-/);
    expect(response.headers?.Location).toBe(response.json.statusUrl);
  });

  it("answers the same request of the same minute with the same name; one already ended is answered 200", async () => {
    await call(request("POST /onboardings/bulk", { accountIds: ["222222222222"] }));
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: "taken", $metadata: {} }));
    const again = await call(request("POST /onboardings/bulk", { accountIds: ["222222222222"] }));

    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(names[0]).toBe(names[1]);
    expect(again.statusCode).toBe(200);
    expect(again.json.id).toBe(names[0]);
  });

  it.each([
    [{}, "input: must name exactly one of organization, ouIds, accountIds"],
    [{ ouIds: ["nope"] }, "ouIds.0: must be an OU id (ou-xxxx-yyyyyyyy)"],
    [{ accountIds: ["222222222222"], token: "AKIAEXAMPLEKEY" }, "token: unknown field"],
  ])("refuses %j with 400 naming the field, starting nothing", async (body, message) => {
    const response = await call(request("POST /onboardings/bulk", body));

    expect(response.statusCode).toBe(400);
    expect(response.json).toEqual({ message });
    expect(response.body).not.toContain("AKIAEXAMPLEKEY");
    expect(sfnMock.commandCalls(StartExecutionCommand)).toEqual([]);
  });
});

describe("GET /onboardings/bulk/{id}", () => {
  it("answers the run's status and, once it succeeded, its summary", async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({
      status: "SUCCEEDED",
      startDate: new Date("2026-11-30T22:00:00Z"),
      stopDate: new Date("2026-11-30T23:00:00Z"),
      output: JSON.stringify({ started: 2, onboarded: 2, failed: 0 }),
    });

    const response = await call(
      request("GET /onboardings/bulk/{id}", undefined, "bulk-20261130T2200Z-0123456789abcdef"),
    );

    expect(response.statusCode).toBe(200);
    expect(response.json).toEqual({
      status: "SUCCEEDED",
      startedAt: "2026-11-30T22:00:00.000Z",
      stoppedAt: "2026-11-30T23:00:00.000Z",
      summary: { started: 2, onboarded: 2, failed: 0 },
    });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]?.args[0].input.executionArn).toBe(
      executionArn(MACHINE, "bulk-20261130T2200Z-0123456789abcdef"),
    );
  });

  it("answers 404 for an id no bulk run has, and 400 for one that is no execution name", async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: "none", $metadata: {} }));

    expect((await call(request("GET /onboardings/bulk/{id}", undefined, "bulk-x"))).statusCode).toBe(404);
    expect((await call(request("GET /onboardings/bulk/{id}", undefined, "a/b"))).statusCode).toBe(400);
  });
});
