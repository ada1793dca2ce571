import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  SFNClient,
  SFNServiceException,
} from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createHandler, getRequestDeps, handler } from "../../functions/http-get-onboarding.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { logger, metrics } from "../../functions/lib/powertools.ts";
import get from "../fixtures/http/get-onboarding.json" with { type: "json" };
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";
import { expectInternalError, expectSettingFailure } from "../support/http.ts";

const MACHINE = STATE_MACHINE_ARN;

const sfnMock = mockClient(SFNClient);
const context = lambdaContext("111111111111", "redis-cloud-byoc-test-httpGetOnboarding");

const ID = "222222222222-api-20261121T1956Z";
const ARN = executionArn(MACHINE, ID);
const STARTED = new Date("2026-11-21T19:56:54Z");
const STOPPED = new Date("2026-11-21T20:04:10Z");

/** The fixture request for another id (null: no path parameters at all). */
function request(id: string | null = ID): APIGatewayProxyEventV2 {
  const event = structuredClone(get) as unknown as APIGatewayProxyEventV2;
  if (id === null) delete event.pathParameters;
  else event.pathParameters = { id };
  return event;
}

async function call(event: APIGatewayProxyEventV2) {
  const response = (await handler(
    event as Parameters<typeof handler>[0],
    context,
  )) as APIGatewayProxyStructuredResultV2;
  return { ...response, json: JSON.parse(response.body ?? "null") as Record<string, unknown> };
}

beforeEach(() => {
  sfnMock.reset();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("GET /onboardings/{id}", () => {
  it("describes a running onboarding with the state it is in", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      status: "RUNNING",
      startDate: STARTED,
      input: JSON.stringify({ accountId: "222222222222" }),
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 31, timestamp: STOPPED, type: "LambdaFunctionStarted" },
        {
          id: 30,
          timestamp: STOPPED,
          type: "TaskStateEntered",
          stateEnteredEventDetails: { name: "VerifyAccessKey" },
        },
      ],
    });

    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json).toEqual({
      id: ID,
      status: "RUNNING",
      currentStep: "VerifyAccessKey",
      startedAt: STARTED.toISOString(),
    });
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: ARN });
  });

  it("gives a succeeded onboarding's cloud account id and nothing else of its output", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      status: "SUCCEEDED",
      startDate: STARTED,
      stopDate: STOPPED,
      output: JSON.stringify({
        accountId: "222222222222",
        cloudAccountId: 12345,
        credentialsSecretArn:
          "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/QxSecret",
        accessKeyId: "AKIAQXEXAMPLEKEY",
      }),
    });

    // Act
    const response = await call(request());

    // Assess
    expect(response.json).toEqual({
      id: ID,
      status: "SUCCEEDED",
      startedAt: STARTED.toISOString(),
      stoppedAt: STOPPED.toISOString(),
      cloudAccountId: 12345,
    });
    expect(response.body).not.toMatch(/QxSecret|AKIAQ/);
  });

  it("gives a failed onboarding's error name and cause", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      status: "FAILED",
      startDate: STARTED,
      stopDate: STOPPED,
      error: "TargetAccessDenied",
      cause: JSON.stringify({
        errorType: "TargetAccessDenied",
        errorMessage: "EnsureInstancePolicy: AssumeRole failed; check that the role exists",
        trace: ["TargetAccessDenied", "    at assume (/var/task/functions/x.mjs:1:1)"],
      }),
    });

    // Act
    const response = await call(request());

    // Assess
    expect(response.json).toEqual({
      id: ID,
      status: "FAILED",
      startedAt: STARTED.toISOString(),
      stoppedAt: STOPPED.toISOString(),
      error: {
        name: "TargetAccessDenied",
        cause: "EnsureInstancePolicy: AssumeRole failed; check that the role exists",
      },
    });
  });

  it("answers 404 for an id no execution has", async () => {
    // Arrange
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${ARN}'`, $metadata: {} }));

    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(404);
    expect(response.json).toEqual({ message: "id: no onboarding has this id" });
  });

  it.each([
    ["a slash", "x/../../stateMachine"],
    ["a colon", "other-machine:x"],
    ["a space", "2222 api"],
    ["81 characters", "a".repeat(81)],
    ["nothing", null],
  ])("answers 400 for an id with %s and asks Step Functions nothing", async (_case, id) => {
    // Act
    const response = await call(request(id));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.json).toEqual({ message: expect.stringMatching(/^id: not an onboarding id/) });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it("answers an unexpected failure with 500 and nothing about it", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).rejects(
      new SFNServiceException({
        name: "AccessDeniedException",
        $fault: "client",
        message: `User arn:aws:sts::111111111111:assumed-role/x is not authorized on ${ARN}`,
        $metadata: {},
      }),
    );

    // Act
    const response = await call(request());

    // Assess
    expectInternalError(response);
  });
});

describe("GET /onboardings/{id}'s metrics and logs", () => {
  async function metricsOf(event: APIGatewayProxyEventV2) {
    const added = vi.spyOn(metrics, "addMetric");
    await call(event);
    return added.mock.calls.map(([name]) => name);
  }

  it.each([
    [
      "an answer",
      () =>
        sfnMock
          .on(DescribeExecutionCommand)
          .resolves({ executionArn: ARN, status: "SUCCEEDED", startDate: STARTED }),
      ID,
      "OnboardingStatusAnswered",
    ],
    [
      "an id no execution has",
      () =>
        sfnMock
          .on(DescribeExecutionCommand)
          .rejects(new ExecutionDoesNotExist({ message: "Execution Does Not Exist", $metadata: {} })),
      ID,
      "OnboardingStatusNotFound",
    ],
    ["a bad id", () => {}, "a:b", "OnboardingStatusRefused"],
    [
      "a Step Functions failure",
      () => sfnMock.on(DescribeExecutionCommand).rejects(new Error("connect ECONNREFUSED")),
      ID,
      "OnboardingStatusFailed",
    ],
  ])("counts %s once", async (_case, arrange, id, metric) => {
    // Arrange
    arrange();

    // Act / Assess
    expect(await metricsOf(request(id))).toEqual([metric]);
  });

  it("answers 500 while the state machine's ARN is missing, and logs the setting's name", async () => {
    // Arrange
    const get = createHandler(() => getRequestDeps({}));
    const logged = vi.spyOn(logger, "error");

    // Act
    const response = (await get(
      request() as Parameters<typeof get>[0],
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expectSettingFailure([response], logged, "setting STATE_MACHINE_ARN: is required");
    expect(sfnMock.calls()).toHaveLength(0);
  });
});
