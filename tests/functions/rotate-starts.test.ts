import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { startRotationRequest } from "../../functions/http-start-rotation.ts";
import { rotationExecutionName } from "../../functions/lib/rotation-start.ts";
import { validateRotation } from "../../functions/rotate-validate.ts";
import { startScheduledRotations } from "../../functions/start-scheduled-rotations.ts";
import { rejectionOf, TARGET } from "../support/aws.ts";

const sfnMock = mockClient(SFNClient);
const MACHINE = "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-rotation";
const NOW = new Date("2026-11-30T22:05:09.000Z");
const CONFIG = {
  defaultTargetRoleName: "OrganizationAccountAccessRole",
  allowedTargetRoleNames: ["OrganizationAccountAccessRole", "AWSControlTowerExecution"],
};

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: `${MACHINE.replace(":stateMachine:", ":execution:")}:${input.name}`,
  }));
});

describe("ValidateRotation", () => {
  it("takes an account and rotate: true, with the default role", () => {
    expect(validateRotation({ accountId: TARGET, rotate: true }, CONFIG)).toEqual({
      target: { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: `aws-${TARGET}` },
      startedBy: null,
    });
  });

  it.each([
    [{ accountId: TARGET }, "rotate"],
    [{ accountId: TARGET, rotate: false }, "rotate"],
    [{ rotate: true }, "accountId"],
    [{ accountId: "12", rotate: true }, "accountId"],
    [{ accountId: TARGET, rotate: true, roleName: "Admin" }, "roleName"],
    [{ accountId: TARGET, rotate: true, secretAccessKey: "AKIA-like-value" }, "input"],
    ["not an object", "input"],
  ])("refuses %j naming %s, never echoing a value", (input, field) => {
    let error: Error | undefined;
    try {
      validateRotation(input, CONFIG);
    } catch (thrown) {
      error = thrown as Error;
    }
    expect(error?.name).toBe("InvalidInput");
    expect(error?.message.startsWith(`${field}:`)).toBe(true);
    expect(error?.message).not.toContain("AKIA-like-value");
  });
});

describe("the schedule's starter", () => {
  async function* pages(...lists: string[][]) {
    for (const list of lists) yield list;
  }

  it("starts one rotation per active account, named by the account and the day", async () => {
    const started: string[] = [];
    const result = await startScheduledRotations({
      activeAccounts: () => pages(["222222222222", "333333333333"], ["444444444444"]),
      start: async (accountId, name) => {
        started.push(name);
        return { executionArn: name, started: accountId !== "333333333333" };
      },
      now: () => NOW,
    });
    expect(started).toEqual([
      "222222222222-rotate-schedule-20261130",
      "333333333333-rotate-schedule-20261130",
      "444444444444-rotate-schedule-20261130",
    ]);
    expect(result).toEqual({ started: 2, alreadyStarted: 1, failed: [] });
  });

  it("starts the others when one start fails, then fails naming it (the schedule retries)", async () => {
    const started: string[] = [];
    const error = await rejectionOf(
      startScheduledRotations({
        activeAccounts: () => pages(["222222222222", "333333333333"]),
        start: async (accountId, name) => {
          if (accountId === "222222222222") throw new Error("throttled");
          started.push(name);
          return { executionArn: name, started: true };
        },
        now: () => NOW,
      }),
    );
    expect(started).toHaveLength(1);
    expect(error.name).toBe("ServiceFailure");
    expect(error.message).toContain("222222222222");
  });
});

describe("POST /accounts/{accountId}/rotations", () => {
  const deps = () => ({
    sfn: new SFNClient({}),
    stateMachineArn: MACHINE,
    now: () => NOW,
    caller: "arn:aws:iam::111111111111:user/ops",
  });

  it("starts a rotation (202) with who asked, named by the account and the minute", async () => {
    const answer = await startRotationRequest(TARGET, deps());
    expect(answer.statusCode).toBe(202);
    const start = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(start?.name).toBe(rotationExecutionName(TARGET, "api", NOW));
    expect(JSON.parse(start?.input ?? "{}")).toEqual({
      accountId: TARGET,
      rotate: true,
      startedBy: "arn:aws:iam::111111111111:user/ops",
    });
    expect(answer.body.statusUrl).toContain(encodeURIComponent(String(answer.body.executionArn)));
  });

  it("answers the rotation already started this minute (200) instead of a second", async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: "exists", $metadata: {} }));
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: `${MACHINE}:x` });
    const answer = await startRotationRequest(TARGET, deps());
    expect(answer.statusCode).toBe(200);
  });

  it("refuses a malformed account id (400) and starts nothing", async () => {
    const error = await rejectionOf(startRotationRequest("12345", deps()));
    expect((error as Error & { statusCode?: number }).statusCode).toBe(400);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
