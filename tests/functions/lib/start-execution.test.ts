import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  type ExecutionStatus,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { executionArn, executionName } from "../../../functions/lib/execution-names.ts";
import {
  findRunning,
  MAX_ATTEMPTS,
  RedrivesExhausted,
  startUnlessRunning,
} from "../../../functions/lib/start-execution.ts";
import { STATE_MACHINE_ARN } from "../../support/aws.ts";
import { failedFamily } from "../../support/sfn.ts";

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
    // Arrange: the list lags; the name is held by a run with another input (another caller).
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: `Execution Already Exists: '${name}'`, $metadata: {} }));
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "RUNNING" });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name, input });

    // Assess
    expect(outcome).toEqual({ kind: "running", executionArn: executionArn(MACHINE, name), name });
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, {
      executionArn: executionArn(MACHINE, name),
    });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it("reports a name taken by an execution that succeeded as taken, not as an error", async () => {
    // Arrange
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} }));
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "SUCCEEDED" });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name, input });

    // Assess
    expect(outcome).toEqual({ kind: "taken", executionArn: executionArn(MACHINE, name), name });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
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

/**
 * Step Functions Standard as the starters see it, in memory: names unique for ever (90 days in
 * AWS), a start of a RUNNING name with the same input answered with that execution, any other
 * taken name refused with ExecutionAlreadyExists.
 */
function standardWorkflows(preexisting: Record<string, ExecutionStatus> = {}) {
  const executions = new Map<string, { status: ExecutionStatus; input: string | undefined }>(
    Object.entries(preexisting).map(([name, status]) => [name, { status, input: undefined }]),
  );
  sfnMock.on(ListExecutionsCommand).callsFake(() => ({
    executions: [...executions]
      .filter(([, execution]) => execution.status === "RUNNING")
      .map(([name]) => running(name)),
  }));
  sfnMock.on(StartExecutionCommand).callsFake(({ name, input }: { name: string; input?: string }) => {
    const held = executions.get(name);
    if (held && !(held.status === "RUNNING" && held.input === input)) {
      throw new ExecutionAlreadyExists({ message: `Execution Already Exists: '${name}'`, $metadata: {} });
    }
    executions.set(name, { status: "RUNNING", input });
    return { executionArn: executionArn(MACHINE, name), startDate: new Date() };
  });
  sfnMock.on(DescribeExecutionCommand).callsFake(({ executionArn: arn }: { executionArn: string }) => {
    const held = executions.get(executionName(arn));
    if (!held) throw new ExecutionDoesNotExist({ message: "Execution Does Not Exist", $metadata: {} });
    return { executionArn: arn, stateMachineArn: MACHINE, status: held.status, startDate: new Date() };
  });
  return executions;
}

describe("startUnlessRunning, after runs that did not succeed", () => {
  const input = { accountId: ACCOUNT, roleName: "AWSControlTowerExecution" };
  const first = `${ACCOUNT}-vending-controltower`;

  it.each(["FAILED", "TIMED_OUT", "ABORTED"] as const)(
    "re-drives a name whose run %s under the family's second name",
    async (status) => {
      // Arrange
      const executions = standardWorkflows({ [first]: status });

      // Act
      const outcome = await startUnlessRunning(sfn, MACHINE, { name: first, input });

      // Assess
      expect(outcome).toEqual({
        kind: "started",
        executionArn: executionArn(MACHINE, `${first}-2`),
        name: `${first}-2`,
      });
      expect(executions.get(`${first}-2`)).toEqual({ status: "RUNNING", input: JSON.stringify(input) });
      expect(executions.get(first)?.status).toBe(status);
    },
  );

  it("walks past every failed name to the first free one", async () => {
    // Arrange
    const executions = standardWorkflows({
      [first]: "FAILED",
      [`${first}-2`]: "TIMED_OUT",
      [`${first}-3`]: "ABORTED",
      [`${first}-4`]: "FAILED",
    });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name: first, input });

    // Assess
    expect(outcome).toMatchObject({ kind: "started", name: `${first}-5` });
    expect(executions.size).toBe(5);
    expect(sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name)).toEqual([
      first,
      `${first}-2`,
      `${first}-3`,
      `${first}-4`,
      `${first}-5`,
    ]);
  });

  it("stops at a re-drive that succeeded: the family's work is done", async () => {
    // Arrange
    const executions = standardWorkflows({ [first]: "FAILED", [`${first}-2`]: "SUCCEEDED" });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name: first, input });

    // Assess
    expect(outcome).toEqual({
      kind: "taken",
      executionArn: executionArn(MACHINE, `${first}-2`),
      name: `${first}-2`,
    });
    expect(executions.size).toBe(2);
  });

  it("answers a re-drive still running instead of starting another", async () => {
    // Arrange
    standardWorkflows({ [first]: "FAILED", [`${first}-2`]: "RUNNING" });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name: first, input });

    // Assess
    expect(outcome).toMatchObject({ kind: "running", name: `${first}-2` });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it("takes a run someone re-drove in Step Functions (PENDING_REDRIVE) as running, missed by the list", async () => {
    // Arrange: the list asks for RUNNING only, so the redriven run is met by name.
    standardWorkflows({ [first]: "PENDING_REDRIVE" });

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name: first, input });

    // Assess
    expect(outcome).toEqual({ kind: "running", executionArn: executionArn(MACHINE, first), name: first });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it("collapses two starters of one failed family into one new execution", async () => {
    // Arrange
    const executions = standardWorkflows({ [first]: "FAILED" });

    // Act: both look, find nothing running, and walk the same names.
    const outcomes = await Promise.all([
      startUnlessRunning(sfn, MACHINE, { name: first, input }),
      startUnlessRunning(sfn, MACHINE, { name: first, input }),
    ]);

    // Assess
    expect(outcomes.map((outcome) => outcome.executionArn)).toEqual([
      executionArn(MACHINE, `${first}-2`),
      executionArn(MACHINE, `${first}-2`),
    ]);
    expect(executions.size).toBe(2);
  });

  it(`gives up with RedrivesExhausted, naming the family, once all ${MAX_ATTEMPTS} names have failed`, async () => {
    // Arrange
    const failed = failedFamily(first, MAX_ATTEMPTS);
    const executions = standardWorkflows(failed);

    // Act
    const outcome = startUnlessRunning(sfn, MACHINE, { name: first, input });

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(RedrivesExhausted);
    await expect(outcome).rejects.toMatchObject({
      name: "RedrivesExhausted",
      message: expect.stringContaining(first),
    });
    expect(executions.size).toBe(MAX_ATTEMPTS);
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, MAX_ATTEMPTS);
  });

  it("re-drives the 50th name, the last the bound allows", async () => {
    // Arrange
    const failed = failedFamily(first, MAX_ATTEMPTS - 1);
    standardWorkflows(failed);

    // Act
    const outcome = await startUnlessRunning(sfn, MACHINE, { name: first, input });

    // Assess
    expect(outcome).toMatchObject({ kind: "started", name: `${first}-${MAX_ATTEMPTS}` });
  });
});
