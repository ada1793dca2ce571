import {
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { executionArn } from "../../../functions/lib/execution-names.ts";
import { findRunning, startUnlessRunning } from "../../../functions/lib/start-execution.ts";
import { STATE_MACHINE_ARN } from "../../support/aws.ts";

const MACHINE = STATE_MACHINE_ARN;
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
