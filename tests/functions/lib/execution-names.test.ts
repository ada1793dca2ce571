import { describe, expect, it } from "vitest";
import {
  apiExecutionName,
  attemptName,
  executionArn,
  executionName,
  isExecutionName,
  startedByOf,
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

  it("keeps a family's first name bare and numbers its re-drives from 2, each a valid execution name", () => {
    // Arrange
    const first = vendingExecutionName(ACCOUNT, "organizations");

    // Act
    const names = [1, 2, 3, 50].map((attempt) => attemptName(first, attempt));

    // Assess
    expect(names).toEqual([
      "222222222222-vending-organizations",
      "222222222222-vending-organizations-2",
      "222222222222-vending-organizations-3",
      "222222222222-vending-organizations-50",
    ]);
    expect(names.every(isExecutionName)).toBe(true);
    expect(attemptName(apiExecutionName(ACCOUNT, new Date("2026-11-21T19:56:53Z")), 2)).toBe(
      "222222222222-api-20261121T1956Z-2",
    );
  });

  it.each([
    ["222222222222-vending-controltower", "vending:controltower"],
    ["222222222222-vending-controltower-2", "vending:controltower"],
    ["222222222222-vending-organizations-17", "vending:organizations"],
    ["222222222222-api-20261121T1956Z", "http-api"],
    ["222222222222-api-20261121T1956Z-2", "http-api"],
    ["222222222222-api-20261121T1956Z-50", "http-api"],
    // No re-drive is named -1, -0 or -02: whoever named these was not a starter.
    ["222222222222-vending-controltower-1", undefined],
    ["222222222222-vending-controltower-02", undefined],
    ["222222222222-api-20261121T1956Z-0", undefined],
    ["222222222222-vending-controltower-x", undefined],
    ["333333333333-vending-controltower-2", undefined],
  ])("tells who started %s (%s), a re-drive's suffix aside", (execution, by) => {
    expect(startedByOf(ACCOUNT, execution)).toBe(by);
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
