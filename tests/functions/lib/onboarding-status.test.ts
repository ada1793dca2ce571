import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { executionArn } from "../../../functions/lib/execution-names.ts";
import { describeOnboarding } from "../../../functions/lib/onboarding-status.ts";
import { STATE_MACHINE_ARN } from "../../support/aws.ts";

const MACHINE = STATE_MACHINE_ARN;
const ACCOUNT = "222222222222";
const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({});

beforeEach(() => {
  sfnMock.reset();
});

describe("describeOnboarding", () => {
  const id = `${ACCOUNT}-api-20261121T1956Z`;
  const arn = executionArn(MACHINE, id);
  const startDate = new Date("2026-11-21T19:56:54Z");
  const stopDate = new Date("2026-11-21T20:04:10Z");

  it("names the last entered state of a running execution, read without execution data", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: arn, status: "RUNNING", startDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 9, timestamp: new Date(), type: "LambdaFunctionScheduled" },
        {
          id: 8,
          timestamp: new Date(),
          type: "TaskStateEntered",
          stateEnteredEventDetails: { name: "EnsureUser" },
        },
        {
          id: 7,
          timestamp: new Date(),
          type: "TaskStateEntered",
          stateEnteredEventDetails: { name: "EnsureUserPolicy" },
        },
      ],
    });

    // Act
    const status = await describeOnboarding(sfn, MACHINE, id);

    // Assess
    expect(status).toEqual({
      id,
      status: "RUNNING",
      currentStep: "EnsureUser",
      startedAt: startDate.toISOString(),
    });
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: arn,
      reverseOrder: true,
      includeExecutionData: false,
    });
  });

  it("reads only the cloud account id from a succeeded execution's output", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: arn,
      status: "SUCCEEDED",
      startDate,
      stopDate,
      input: JSON.stringify({ accountId: ACCOUNT }),
      output: JSON.stringify({
        accountId: ACCOUNT,
        cloudAccountId: 12345,
        credentialsSecretArn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/x",
        accessKeyId: "AKIAQXEXAMPLEKEY",
      }),
    });

    // Act
    const status = await describeOnboarding(sfn, MACHINE, id);

    // Assess
    expect(status).toEqual({
      id,
      status: "SUCCEEDED",
      startedAt: startDate.toISOString(),
      stoppedAt: stopDate.toISOString(),
      cloudAccountId: 12345,
    });
    expect(sfnMock).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
  });

  it("gives a failed execution's error name and its message, without the stack trace", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: arn,
      status: "FAILED",
      startDate,
      stopDate,
      error: "TargetAccessDenied",
      cause: JSON.stringify({
        errorType: "TargetAccessDenied",
        errorMessage: "EnsureInstancePolicy: AssumeRole arn:aws:iam::222222222222:role/X failed",
        trace: ["TargetAccessDenied: …", "    at assume (/var/task/functions/ensure.mjs:1:2)"],
      }),
    });

    // Act
    const status = await describeOnboarding(sfn, MACHINE, id);

    // Assess
    expect(status?.error).toEqual({
      name: "TargetAccessDenied",
      cause: "EnsureInstancePolicy: AssumeRole arn:aws:iam::222222222222:role/X failed",
    });
    expect(JSON.stringify(status)).not.toContain("/var/task");
  });

  it("answers undefined for an execution that does not exist", async () => {
    // Arrange
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: "Execution Does Not Exist", $metadata: {} }));

    // Act / Assess
    await expect(describeOnboarding(sfn, MACHINE, id)).resolves.toBeUndefined();
  });

  it.each([
    ["a string of digits", "12345", 12345],
    ["zero", 0, undefined],
    ["a fraction", 1.5, undefined],
    ["beyond a safe integer", 2 ** 53, undefined],
    ["a word", "QxValue", undefined],
  ])("reads a cloud account id given as %s as %s", async (_case, cloudAccountId, expected) => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: arn,
      status: "SUCCEEDED",
      startDate,
      stopDate,
      output: JSON.stringify({ cloudAccountId }),
    });

    // Act
    const status = await describeOnboarding(sfn, MACHINE, id);

    // Assess
    expect(status?.cloudAccountId).toBe(expected);
  });

  it("reads no cloud account id from an output that is not JSON", async () => {
    // Arrange
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: arn, status: "SUCCEEDED", startDate, stopDate, output: "{QxValue" });

    // Act
    const status = await describeOnboarding(sfn, MACHINE, id);

    // Assess
    expect(status).not.toHaveProperty("cloudAccountId");
  });

  it("keeps a cause that is not a Lambda error as it is, cut at 1000 characters", async () => {
    // Arrange
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: arn,
      status: "TIMED_OUT",
      startDate,
      stopDate,
      error: "States.Timeout",
      cause: "x".repeat(1200),
    });

    // Act
    const status = await describeOnboarding(sfn, MACHINE, id);

    // Assess
    expect(status?.error).toEqual({ name: "States.Timeout", cause: `${"x".repeat(1000)}…` });
  });
});
