import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/lib/config.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { handler, validateInput } from "../../functions/validate-input.ts";
import { HOME, lambdaContext } from "../support/aws.ts";

const deps = { home: HOME, config: loadConfig({}) };

/** The error validateInput throws for `raw`. */
function refusal(raw: unknown): Error {
  try {
    validateInput(raw, deps);
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error("the input was accepted");
}

describe("validateInput", () => {
  it("onboards the home account through the default role when given {}", () => {
    // Act
    const result = validateInput({}, deps);

    // Assess
    expect(result).toEqual({
      target: {
        accountId: HOME.accountId,
        roleName: "OrganizationAccountAccessRole",
        accountName: `aws-${HOME.accountId}`,
      },
      steps: {},
      startedBy: null,
    });
  });

  it("takes every field that is given", () => {
    // Act
    const result = validateInput(
      { accountId: "333333333333", roleName: "AWSControlTowerExecution", accountName: "Payments (prod)" },
      deps,
    );

    // Assess
    expect(result.target).toEqual({
      accountId: "333333333333",
      roleName: "AWSControlTowerExecution",
      accountName: "Payments (prod)",
    });
  });

  it.each([
    ["accountId", "too short", { accountId: "98765x" }, "98765x"],
    ["accountId", "13 digits", { accountId: "9876543210987" }, "9876543210987"],
    ["accountId", "not a string", { accountId: 987654321098 }, "987654321098"],
    ["roleName", "bad characters", { roleName: "Zebra/Role!Qx" }, "Zebra/Role!Qx"],
    ["roleName", "not allowed by the settings", { roleName: "ZebraAdminRoleQx" }, "ZebraAdminRoleQx"],
    ["accountName", "empty", { accountName: "" }, '""'],
    ["accountName", "too long", { accountName: "Zebra".repeat(21) }, "ZebraZebra"],
    ["accountName", "a control character", { accountName: "Zebra\nQx" }, "Zebra"],
    ["zebraField", "unknown", { zebraField: "QxUnknownValue" }, "QxUnknownValue"],
  ])("refuses %s (%s) naming the field without echoing the value", (field, _case, raw, value) => {
    // Act
    const error = refusal(raw);

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("InvalidInput");
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.message).not.toContain(value);
  });

  it.each([
    ["null", null],
    ["an array", ["ZebraQx"]],
    ["a string", "ZebraQx"],
    ["a number", 42],
  ])("refuses %s as the input", (_case, raw) => {
    // Act
    const error = refusal(raw);

    // Assess
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toMatch(/^input: /);
    expect(error.message).not.toContain("ZebraQx");
  });

  it("says who started the run: the input's caller ARN, else what the execution's name says, else null", () => {
    const caller = "arn:aws:sts::111111111111:assumed-role/platform-operators/alice";

    expect(validateInput({ accountId: "222222222222", startedBy: caller }, deps).startedBy).toBe(caller);
    expect(
      validateInput({ accountId: "222222222222" }, deps, "222222222222-vending-controltower").startedBy,
    ).toBe("vending:controltower");
    expect(validateInput({ accountId: "222222222222" }, deps, "a-console-run").startedBy).toBeNull();
    expect(refusal({ startedBy: "alice" })).toMatchObject({
      name: "InvalidInput",
      message: expect.stringContaining("startedBy: must be an IAM or STS principal ARN"),
    });
  });

  it("says which roles the deployment may assume when the role is not allowed", () => {
    // Act
    const error = refusal({ roleName: "ZebraAdminRoleQx" });

    // Assess
    expect(error.message).toContain("OrganizationAccountAccessRole or AWSControlTowerExecution");
    expect(error.message).toContain("TARGET_ROLE_NAMES");
  });

  it("accepts a role the settings allow beyond the defaults", () => {
    // Act
    const result = validateInput(
      { roleName: "BreakGlass" },
      { home: HOME, config: loadConfig({ TARGET_ROLE_NAMES: "OrganizationAccountAccessRole,BreakGlass" }) },
    );

    // Assess
    expect(result.target.roleName).toBe("BreakGlass");
  });
});

describe("validate-input handler", () => {
  it("reads the execution's input and defaults to the account it runs in", async () => {
    // Act
    const result = await handler({ input: {} }, lambdaContext("444444444444"));

    // Assess
    expect(result.target).toMatchObject({ accountId: "444444444444", accountName: "aws-444444444444" });
  });
});
