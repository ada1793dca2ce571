import { ListExecutionsCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { offboardRequest } from "../../functions/http-offboard.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";

const MACHINE = "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-offboarding";
const sfnMock = mockClient(SFNClient);
const CALLER = "arn:aws:sts::111111111111:assumed-role/Platform/alice";

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(MACHINE, input.name),
  }));
});

const deps = {
  sfn: new SFNClient({}),
  stateMachineArn: MACHINE,
  now: () => new Date("2026-11-30T21:20:30Z"),
  statusUrl: (id: string) => `https://api.example.com/offboardings/${id}`,
  caller: CALLER,
};

describe("DELETE /accounts/{accountId}", () => {
  it("starts the offboarding and answers 202 with its status URL", async () => {
    const answer = await offboardRequest("444455556666", deps);

    expect(answer.statusCode).toBe(202);
    const id = "444455556666-offboard-api-20261130T2120Z";
    expect(answer.headers).toEqual({ Location: `https://api.example.com/offboardings/${id}` });
    expect(answer.body).toMatchObject({ id, statusUrl: `https://api.example.com/offboardings/${id}` });
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? "{}");
    expect(input).toEqual({ accountId: "444455556666", startedBy: CALLER });
  });

  it.each(["12", "abcdefghijkl", undefined])(
    "refuses the account id %s with 400, starting nothing",
    async (bad) => {
      await expect(offboardRequest(bad, deps)).rejects.toMatchObject({
        statusCode: 400,
        message: expect.stringContaining("accountId"),
      });
      expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    },
  );
});
