import { ListExecutionsCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { offboardFromEvent, readOffboardingEvent } from "../../functions/offboard-from-event.ts";
import closed from "../fixtures/events/organizations-close-account-result.json" with { type: "json" };
import closeFailed from "../fixtures/events/organizations-close-account-result-failed.json" with {
  type: "json",
};
import orgCreate from "../fixtures/events/organizations-create-account-result.json" with { type: "json" };
import removed from "../fixtures/events/organizations-remove-account.json" with { type: "json" };
import removeFailed from "../fixtures/events/organizations-remove-account-failed.json" with { type: "json" };
import { matchesPattern } from "../support/event-pattern.ts";
import { packagedTemplate, resourcesOfType } from "../support/template.ts";

const MACHINE = "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-offboarding";
const sfnMock = mockClient(SFNClient);

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(MACHINE, input.name),
    startDate: new Date(),
  }));
});

const deps = () => ({ sfn: new SFNClient({}), stateMachineArn: MACHINE });

describe("the offboarding rules, as packaged", () => {
  const rules = resourcesOfType(packagedTemplate(), "AWS::Events::Rule")
    .filter(([, rule]) => String(rule.Properties.Name).includes("-offboard-"))
    .map(([, rule]) => rule.Properties.EventPattern);
  const matching = (event: unknown) => rules.filter((pattern) => matchesPattern(event, pattern));

  it("are two: Organizations' CloseAccountResult and RemoveAccountFromOrganization", () => {
    expect(rules).toHaveLength(2);
  });

  it.each(Object.entries({ closed, removed }))("let %s through exactly one rule", (_name, event) => {
    expect(matching(event)).toHaveLength(1);
  });

  it.each(Object.entries({ closeFailed, removeFailed, orgCreate }))("let %s through none", (_name, event) => {
    expect(matching(event)).toHaveLength(0);
  });
});

describe("offboardFromEvent", () => {
  it("reads the closed account from CloseAccountResult's closeAccountStatus", () => {
    expect(readOffboardingEvent(closed)).toEqual({ kind: "closed", accountId: "444455556666" });
  });

  it("reads the removed account from RemoveAccountFromOrganization's request parameters", () => {
    expect(readOffboardingEvent(removed)).toEqual({ kind: "removed", accountId: "444455556666" });
  });

  it.each(Object.entries({ closeFailed, removeFailed, orgCreate }))("ignores %s", async (_name, event) => {
    const result = await offboardFromEvent(event, deps());

    expect(result.outcome).toBe("ignored");
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("starts one offboarding named after the account and the event, with the account id as its input", async () => {
    const result = await offboardFromEvent(closed, deps());

    expect(result).toMatchObject({ outcome: "started", accountId: "444455556666" });
    const [call] = sfnMock.commandCalls(StartExecutionCommand);
    expect(call?.args[0].input.name).toBe("444455556666-offboard-closed");
    expect(JSON.parse(call?.args[0].input.input ?? "null")).toEqual({ accountId: "444455556666" });
  });

  it("answers the offboarding already running for the account instead of starting another", async () => {
    const running = executionArn(MACHINE, "444455556666-offboard-api-20261130T2120Z");
    sfnMock.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: running,
          name: "444455556666-offboard-api-20261130T2120Z",
          stateMachineArn: MACHINE,
          status: "RUNNING",
          startDate: new Date(),
        },
      ],
    });

    const result = await offboardFromEvent(removed, deps());

    expect(result).toMatchObject({ outcome: "running", executionArn: running });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
