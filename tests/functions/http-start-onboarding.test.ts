import {
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createHandler,
  handler,
  MAX_BODY_BYTES,
  startHandlerDeps,
} from "../../functions/http-start-onboarding.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { logger, metrics } from "../../functions/lib/powertools.ts";
import { MAX_ATTEMPTS } from "../../functions/lib/start-execution.ts";
import post from "../fixtures/http/post-onboardings.json" with { type: "json" };
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";
import { expectInternalError, expectSettingFailure } from "../support/http.ts";
import { failedFamily, holdNames, runningListing } from "../support/sfn.ts";

const MACHINE = STATE_MACHINE_ARN;
/** The caller the fixture's IAM authorizer names. */
const CALLER = post.requestContext.authorizer.iam.userArn;

const sfnMock = mockClient(SFNClient);
const context = lambdaContext("111111111111", "redis-cloud-byoc-test-httpStartOnboarding");

const NOW = new Date("2026-11-21T19:56:53.528Z");
const NAME = "222222222222-api-20261121T1956Z";
const STATUS_URL = `https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/onboardings/${NAME}`;

/** The fixture request, with another body (null: none) or more headers. */
function request(
  body: string | null = post.body,
  headers: Record<string, string> = {},
): APIGatewayProxyEventV2 {
  const event = structuredClone(post) as unknown as APIGatewayProxyEventV2;
  if (body === null) delete event.body;
  else event.body = body;
  event.headers = { ...event.headers, ...headers };
  return event;
}

async function call(event: APIGatewayProxyEventV2) {
  const response = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
  return { ...response, json: JSON.parse(response.body ?? "null") as Record<string, unknown> };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"], now: NOW });
  sfnMock.reset();
  sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(MACHINE, input.name),
    startDate: NOW,
  }));
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("POST /onboardings", () => {
  it("starts an onboarding of the account and answers 202 with its id and where to read its status", async () => {
    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(202);
    expect(response.json).toEqual({
      executionArn: executionArn(MACHINE, NAME),
      id: NAME,
      statusUrl: STATUS_URL,
    });
    expect(response.headers).toMatchObject({ "Content-Type": "application/json", Location: STATUS_URL });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: MACHINE,
      name: NAME,
      input: JSON.stringify({
        accountId: "222222222222",
        roleName: "AWSControlTowerExecution",
        accountName: "payments-prod",
        // Who called, as the route's IAM authorizer names them: never from the body.
        startedBy: CALLER,
      }),
    });
  });

  it("puts the IAM caller's ARN into the execution's input, and never a startedBy of the body", async () => {
    // Act
    const spoofed = await call(
      request(
        JSON.stringify({ accountId: "222222222222", startedBy: "arn:aws:iam::999999999999:user/mallory" }),
      ),
    );
    const anonymous = request(JSON.stringify({ accountId: "222222222222" }));
    delete (anonymous.requestContext as { authorizer?: unknown }).authorizer;
    await call(anonymous);

    // Assess
    expect(spoofed.statusCode).toBe(400);
    expect(spoofed.json.message).toContain('unknown field "startedBy"');
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      input: JSON.stringify({ accountId: "222222222222" }),
    });
  });

  it("answers the running onboarding of the account (200, same id) instead of starting a second", async () => {
    // Arrange
    const runningName = "222222222222-api-20261121T1950Z";
    sfnMock
      .on(ListExecutionsCommand)
      .resolves(runningListing(MACHINE, runningName, new Date("2026-11-21T19:50:00Z")));

    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json).toMatchObject({
      id: runningName,
      executionArn: executionArn(MACHINE, runningName),
    });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it("answers 409 with when to retry when a run of the same minute has already succeeded", async () => {
    // Arrange
    holdNames(sfnMock, MACHINE, { [NAME]: "SUCCEEDED" });

    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(409);
    expect(response.headers).toMatchObject({ "Retry-After": "7" });
    expect(response.json).toMatchObject({
      id: NAME,
      statusUrl: STATUS_URL,
      message: expect.stringMatching(/already succeeded; retry in 7 s/),
    });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it.each(["FAILED", "TIMED_OUT", "ABORTED"] as const)(
    "starts the minute's next name (202) when its run of the same minute %s",
    async (status) => {
      // Arrange
      holdNames(sfnMock, MACHINE, { [NAME]: status });

      // Act
      const response = await call(request());

      // Assess
      expect(response.statusCode).toBe(202);
      expect(response.json).toEqual({
        executionArn: executionArn(MACHINE, `${NAME}-2`),
        id: `${NAME}-2`,
        statusUrl: `${STATUS_URL}-2`,
      });
      expect(sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual([
        NAME,
        `${NAME}-2`,
      ]);
    },
  );

  it("walks past the minute's failed re-drives, and answers a running one (200) instead of starting", async () => {
    // Arrange
    holdNames(sfnMock, MACHINE, { [NAME]: "FAILED", [`${NAME}-2`]: "FAILED", [`${NAME}-3`]: "RUNNING" });

    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json).toMatchObject({ id: `${NAME}-3` });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 3);
  });

  it(`refuses with 409 once ${MAX_ATTEMPTS} runs of the minute have failed, until the next minute`, async () => {
    // Arrange
    holdNames(sfnMock, MACHINE, failedFamily(NAME, MAX_ATTEMPTS));

    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(409);
    expect(response.json).toEqual({
      message: `the last ${MAX_ATTEMPTS} onboardings of this account started this minute have all failed; retry in 7 s`,
    });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, MAX_ATTEMPTS);
  });

  it.each([
    ["malformed JSON", '{"accountId": "2222QxValue"', {}, 422, /malformed JSON/],
    ["a wrong type", JSON.stringify({ accountId: 2222 }), {}, 400, /^accountId: must be string/],
    [
      "an unknown field",
      JSON.stringify({ accountId: "222222222222", zebra: "QxValue" }),
      {},
      400,
      /^body: unknown field "zebra"/,
    ],
    [
      "a bad accountId",
      JSON.stringify({ accountId: "2222QxValue" }),
      {},
      400,
      /^accountId: must match pattern/,
    ],
    ["no accountId", JSON.stringify({ accountName: "QxValue" }), {}, 400, /^accountId: is required/],
    [
      "a role the deployment may not assume",
      JSON.stringify({ accountId: "222222222222", roleName: "QxValueRole" }),
      {},
      400,
      /^roleName: this deployment may only assume OrganizationAccountAccessRole or AWSControlTowerExecution/,
    ],
    [
      "an oversize body",
      JSON.stringify({ accountId: "222222222222", accountName: "QxValue".repeat(MAX_BODY_BYTES / 7) }),
      {},
      413,
      /^body: larger than 4096 bytes$/,
    ],
    ["no JSON content type", post.body, { "content-type": "text/plain" }, 415, /Unsupported Media Type/],
    ["no body", null, {}, 422, /malformed JSON/],
  ])(
    "refuses %s with a JSON message naming the problem, never the value, and starts nothing",
    async (_case, body, headers, status, message) => {
      // Act
      const response = await call(request(body, headers));

      // Assess
      expect(response.statusCode).toBe(status);
      expect(response.headers).toMatchObject({ "Content-Type": "application/json" });
      expect(response.json).toEqual({ message: expect.stringMatching(message) });
      expect(response.body).not.toContain("QxValue");
      expect(sfnMock.calls()).toHaveLength(0);
    },
  );

  it("measures a base64-encoded body by its decoded size", async () => {
    // Arrange
    const body = Buffer.from(JSON.stringify({ accountId: "222222222222" })).toString("base64");
    const event = { ...request(body), isBase64Encoded: true };

    // Act
    const response = await call(event);

    // Assess
    expect(response.statusCode).toBe(202);
  });

  it("answers an unexpected failure with 500 and nothing about it", async () => {
    // Arrange
    sfnMock.on(StartExecutionCommand).rejects(new Error(`connect ECONNREFUSED 10.0.0.1:443 (${MACHINE})`));

    // Act
    const response = await call(request());

    // Assess
    expectInternalError(response);
  });
});

/** The same request, to POST /plans (one function serves both routes). */
function planRequest(body?: string): APIGatewayProxyEventV2 {
  const event = request(body);
  event.routeKey = "POST /plans";
  event.rawPath = "/plans";
  return event;
}

/*
 * POST /plans: the onboarding's body, answered by a run that only reads. It is named apart from
 * the onboardings of its account, so that it neither waits for one nor is taken for one.
 */
describe("POST /plans", () => {
  const PLAN = "plan-222222222222-api-20261121T1956Z";

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
    sfnMock.on(ListExecutionsCommand).resolves(runningListing(MACHINE, NAME));

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

describe("POST /onboardings' metrics and logs", () => {
  /** The metrics one request added, by name, and the origins they were counted under. */
  async function metricsOf(event: APIGatewayProxyEventV2) {
    const added = vi.spyOn(metrics, "addMetric");
    const dimensions = vi.spyOn(metrics, "addDimension");
    await call(event);
    return { names: added.mock.calls.map(([name]) => name), dimensions: dimensions.mock.calls };
  }

  it.each([
    ["a start", () => {}, request(), "OnboardingsStarted"],
    [
      "a start collapsed into the running one",
      () => sfnMock.on(ListExecutionsCommand).resolves(runningListing(MACHINE, NAME, NOW)),
      request(),
      "OnboardingsAlreadyRunning",
    ],
    [
      "a start whose run of this minute has succeeded",
      () => holdNames(sfnMock, MACHINE, { [NAME]: "SUCCEEDED" }),
      request(),
      "OnboardingsAlreadyHandled",
    ],
    [
      "a re-drive of this minute's failed run",
      () => holdNames(sfnMock, MACHINE, { [NAME]: "FAILED" }),
      request(),
      "OnboardingsStarted",
    ],
    [
      "a start refused once the minute's re-drives are spent",
      () => holdNames(sfnMock, MACHINE, failedFamily(NAME, MAX_ATTEMPTS)),
      request(),
      "OnboardingStartsRefused",
    ],
    [
      "a bad body",
      () => {},
      request(JSON.stringify({ accountId: "2222QxValue" })),
      "OnboardingStartsRefused",
    ],
    ["malformed JSON", () => {}, request("{"), "OnboardingStartsRefused"],
    [
      "a Step Functions failure",
      () => sfnMock.on(StartExecutionCommand).rejects(new Error("connect ECONNREFUSED")),
      request(),
      "OnboardingStartsFailed",
    ],
  ])("counts %s once, as an API start", async (_case, arrange, event, metric) => {
    // Arrange
    arrange();

    // Act
    const { names, dimensions } = await metricsOf(event);

    // Assess
    expect(names).toEqual([metric]);
    expect(dimensions).toEqual([["origin", "api"]]);
  });

  it("logs every line of a request with API Gateway's request id", async () => {
    // Arrange
    const logged = vi.spyOn(logger, "info");
    let correlation: unknown;
    logged.mockImplementation(() => {
      correlation = logger.getCorrelationId();
    });

    // Act
    await call(request());

    // Assess
    expect(logged).toHaveBeenCalledWith("onboarding requested", expect.anything());
    expect(correlation).toBe(post.requestContext.requestId);
  });

  it("answers 500 to every request while a setting is bad, and logs the setting's name", async () => {
    // Arrange
    const start = createHandler(() => startHandlerDeps({ STATE_MACHINE_ARN: "OnboardingStateMachine" }));
    const logged = vi.spyOn(logger, "error");
    const added = vi.spyOn(metrics, "addMetric");

    // Act
    const responses = [
      (await start(request(), context)) as APIGatewayProxyStructuredResultV2,
      (await start(request(), context)) as APIGatewayProxyStructuredResultV2,
    ];

    // Assess
    expectSettingFailure(responses, logged, "setting STATE_MACHINE_ARN: must be a state machine ARN");
    expect(added.mock.calls.map(([name]) => name)).toEqual([
      "OnboardingStartsFailed",
      "OnboardingStartsFailed",
    ]);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it("logs a Step Functions failure with its AWS request id and HTTP status", async () => {
    // Arrange
    const logged = vi.spyOn(logger, "error");
    sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({
        name: "ServiceUnavailable",
        $fault: "server",
        message: "Service unavailable",
        $metadata: { httpStatusCode: 503, requestId: "req-0001" },
      }),
    );

    // Act
    const response = await call(request());

    // Assess
    expect(response.statusCode).toBe(500);
    expect(logged).toHaveBeenCalledWith(
      "request failed",
      expect.objectContaining({
        errorName: "ServiceUnavailable",
        awsRequestId: "req-0001",
        httpStatusCode: 503,
      }),
    );
  });
});
