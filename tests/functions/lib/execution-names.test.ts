import { describe, expect, it } from "vitest";
import {
  apiExecutionName,
  executionArn,
  executionName,
  isExecutionName,
  vendingExecutionName,
} from "../../../functions/lib/execution-names.ts";
import { STATE_MACHINE_ARN } from "../../support/aws.ts";

const MACHINE = STATE_MACHINE_ARN;
const ACCOUNT = "222222222222";

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

  it("reads an execution's name back from its ARN", () => {
    expect(executionName(executionArn(MACHINE, "x-1"))).toBe("x-1");
  });
});
