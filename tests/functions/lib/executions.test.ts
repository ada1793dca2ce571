import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import {
  apiExecutionName,
  describeOnboarding,
  executionArn,
  findRunning,
  isExecutionName,
  loadStateMachineArn,
  parseOnboardingInput,
  startUnlessRunning,
  vendingExecutionName,
} from "../../../functions/lib/executions.ts";

const MACHINE = "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-onboarding";
const ACCOUNT = "222222222222";
const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({});

const running = (name: string, startDate = new Date("2026-11-21T19:00:00Z")) => ({
  executionArn: executionArn(MACHINE, name),
  stateMachineArn: MACHINE,
  name,
  status: "RUNNING" as const,
  startDate,
});

beforeEach(() => {
  sfnMock.reset();
});

describe("execution names", () => {
  it("names an API start by account and UTC minute, a valid execution name", () => {
    // Act
    const name = apiExecutionName(ACCOUNT, new Date("2026-11-21T19:56:53.528Z"));

    // Assess
    expect(name).toBe("222222222222-api-20261121T1956Z");
    expect(isExecutionName(name)).toBe(true);
  });

  it("names a vending start by account and source only, so that every delivery gets the same name", () => {
    expect(vendingExecutionName(ACCOUNT, "controltower")).toBe("222222222222-vending-controltower");
    expect(vendingExecutionName(ACCOUNT, "organizations")).toBe("222222222222-vending-organizations");
  });

  it.each([
    ["empty", ""],
    ["a space", "2222 api"],
    ["a slash", "../stateMachine"],
    ["a colon", "a:b"],
    ["a control character", "a\u0007b"],
    ["81 characters", "a".repeat(81)],
    ["not a string", 42],
  ])("refuses %s as an execution name", (_case, name) => {
    expect(isExecutionName(name)).toBe(false);
  });

  it("builds an execution's ARN from its state machine's", () => {
    expect(executionArn(MACHINE, "x-1")).toBe(
      "arn:aws:states:us-east-1:111111111111:execution:redis-cloud-byoc-test-onboarding:x-1",
    );
  });
});

describe("loadStateMachineArn", () => {
  it("takes a state machine ARN", () => {
    expect(loadStateMachineArn({ STATE_MACHINE_ARN: MACHINE })).toBe(MACHINE);
  });

  it.each([
    ["missing", undefined],
    ["an execution ARN", executionArn(MACHINE, "x")],
    ["a Ref that was never resolved", "OnboardingStateMachine"],
  ])("stops the cold start, by setting name, when it is %s", (_case, value) => {
    expect(() => loadStateMachineArn({ STATE_MACHINE_ARN: value })).toThrowError(
      new WorkflowError("ConfigurationError", "setting STATE_MACHINE_ARN: must be a state machine ARN"),
    );
  });
});

describe("parseOnboardingInput", () => {
  it("rebuilds the input in a fixed field order, so that equal starts are equal JSON", () => {
    // Act
    const parsed = parseOnboardingInput({ accountName: "payments", roleName: "R", accountId: ACCOUNT });

    // Assess
    expect(JSON.stringify(parsed)).toBe(
      JSON.stringify({ input: { accountId: ACCOUNT, roleName: "R", accountName: "payments" } }),
    );
  });

  it.each([
    ["a missing accountId", { roleName: "R" }, /^accountId: is required: the 12-digit id/],
    ["a wrong type", { accountId: 222222222222 }, /^accountId: must be string/],
    ["a bad pattern", { accountId: "2222-QxValue" }, /^accountId: must match pattern/],
    ["an unknown field", { accountId: ACCOUNT, zebra: "QxValue" }, /^body: unknown field "zebra"/],
    ["a non-object", ["QxValue"], /^body: must be a JSON object/],
  ])("names the problem of %s without echoing the value", (_case, body, problem) => {
    // Act
    const parsed = parseOnboardingInput(body);

    // Assess
    expect(parsed).toEqual({ problem: expect.stringMatching(problem) });
    expect(JSON.stringify(parsed)).not.toContain("QxValue");
  });

  it("does not repeat an unknown field's name that is not plainly a name", () => {
    // Act
    const parsed = parseOnboardingInput({ accountId: ACCOUNT, "<script>QxName": 1 });

    // Assess
    expect(parsed).toEqual({ problem: expect.stringMatching(/^body: unknown field \(/) });
    expect(JSON.stringify(parsed)).not.toContain("QxName");
  });
});

describe("findRunning", () => {
  it("finds the account's oldest running execution across pages, by name prefix", () => {
    // Arrange
    sfnMock
      .on(ListExecutionsCommand)
      .resolvesOnce({
        executions: [
          running("2222222222223-api-x"),
          running(`${ACCOUNT}-api-late`, new Date("2026-11-21T19:30:00Z")),
        ],
        nextToken: "page-2",
      })
      .resolvesOnce({ executions: [running(`${ACCOUNT}-vending-controltower`)] });

    // Act / Assess
    return expect(findRunning(sfn, MACHINE, ACCOUNT)).resolves.toEqual({
      executionArn: executionArn(MACHINE, `${ACCOUNT}-vending-controltower`),
      name: `${ACCOUNT}-vending-controltower`,
    });
  });

  it("asks only for RUNNING executions of this state machine", async () => {
    // Arrange
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });

    // Act
    const found = await findRunning(sfn, MACHINE, ACCOUNT);

    // Assess
    expect(found).toBeUndefined();
    expect(sfnMock).toHaveReceivedCommandWith(ListExecutionsCommand, {
      stateMachineArn: MACHINE,
      statusFilter: "RUNNING",
    });
  });
});

describe("startUnlessRunning", () => {
  const input = { accountId: ACCOUNT, roleName: "OrganizationAccountAccessRole" };
  const name = `${ACCOUNT}-api-20261121T1956Z`;

  it("starts the named execution with the input as JSON when none runs for the account", async () => {
    // Arrange
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    sfnMock
      .on(StartExecutionCommand)
      .resolves({ executionArn: executionArn(MACHINE, name), startDate: new Date() });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name, input });

    // Assess
    expect(outcome).toEqual({ kind: "started", executionArn: executionArn(MACHINE, name), name });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: MACHINE,
      name,
      input: JSON.stringify(input),
    });
  });

  it("answers the running execution and starts nothing", async () => {
    // Arrange
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [running(`${ACCOUNT}-vending-controltower`)] });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name, input });

    // Assess
    expect(outcome).toMatchObject({ kind: "running", name: `${ACCOUNT}-vending-controltower` });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it("answers a running execution that the first look missed when its name is taken", async () => {
    // Arrange
    sfnMock
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [] })
      .resolvesOnce({ executions: [running(name)] });
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: `Execution Already Exists: '${name}'`, $metadata: {} }));

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name, input });

    // Assess
    expect(outcome).toEqual({ kind: "running", executionArn: executionArn(MACHINE, name), name });
  });

  it("reports a name taken by an execution that has ended as taken, not as an error", async () => {
    // Arrange
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} }));

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name, input });

    // Assess
    expect(outcome).toEqual({ kind: "taken", executionArn: executionArn(MACHINE, name), name });
    expect(sfnMock).toHaveReceivedCommandTimes(ListExecutionsCommand, 2);
  });

  it("lets any other Step Functions error through", async () => {
    // Arrange
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    const throttled = new SFNServiceException({
      name: "ThrottlingException",
      $fault: "client",
      message: "Rate exceeded",
      $metadata: {},
    });
    sfnMock.on(StartExecutionCommand).rejects(throttled);

    // Act / Assess
    await expect(startUnlessRunning(sfn, MACHINE, { name, input })).rejects.toBe(throttled);
  });
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
});
