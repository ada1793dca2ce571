import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../functions/lib/config.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";

function refusal(env: Record<string, string>): Error {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error("the settings were accepted");
}

describe("loadConfig", () => {
  it("has the deployment's defaults when nothing is set", () => {
    // Assess
    expect(loadConfig({})).toEqual({
      logLevel: "INFO",
      secretNamePrefix: "redis-cloud/byoc/",
      credentialsKeyArn: "",
      secretReaderArns: [],
      consoleRolePolicyName: "RedislabsIAMUserRestrictedPolicy",
      defaultTargetRoleName: "OrganizationAccountAccessRole",
      allowedTargetRoleNames: ["OrganizationAccountAccessRole", "AWSControlTowerExecution"],
      allowedAccountIds: [],
      allowedOuIds: [],
      // --- Offboarding ---
      secretRecoveryDays: 7,
    });
  });

  it("reads the account allow-list and names a bad id's setting", () => {
    // Assess
    expect(loadConfig({ ALLOWED_ACCOUNT_IDS: "222222222222, 333333333333" }).allowedAccountIds).toEqual([
      "222222222222",
      "333333333333",
    ]);
    expect(() => loadConfig({ ALLOWED_ACCOUNT_IDS: "12345" })).toThrow(
      "setting ALLOWED_ACCOUNT_IDS: must be a comma-separated list of 12-digit account ids",
    );
  });

  it("treats blank settings as unset", () => {
    // Assess
    expect(loadConfig({ SECRET_NAME_PREFIX: "  ", CONSOLE_ROLE_POLICY: "", TARGET_ROLE_NAMES: " " })).toEqual(
      loadConfig({}),
    );
  });

  it("reads every setting, trimming the role list", () => {
    // Act
    const config = loadConfig({
      SECRET_NAME_PREFIX: "team/redis/",
      CONSOLE_ROLE_POLICY: "RedisLabsInstanceRolePolicy",
      TARGET_ROLE_NAMES: " Onboarder , BreakGlass ,",
      DEFAULT_TARGET_ROLE: "BreakGlass",
    });

    // Assess
    expect(config).toEqual({
      logLevel: "INFO",
      secretNamePrefix: "team/redis/",
      credentialsKeyArn: "",
      secretReaderArns: [],
      consoleRolePolicyName: "RedisLabsInstanceRolePolicy",
      defaultTargetRoleName: "BreakGlass",
      allowedTargetRoleNames: ["Onboarder", "BreakGlass"],
      allowedAccountIds: [],
      allowedOuIds: [],
      // --- Offboarding ---
      secretRecoveryDays: 7,
    });
  });

  it.each([
    ["SECRET_NAME_PREFIX", { SECRET_NAME_PREFIX: "no-trailing-slash" }],
    ["SECRET_NAME_PREFIX", { SECRET_NAME_PREFIX: "bad prefix/" }],
    ["CONSOLE_ROLE_POLICY", { CONSOLE_ROLE_POLICY: "AdministratorAccess" }],
    ["TARGET_ROLE_NAMES", { TARGET_ROLE_NAMES: "Good,bad role" }],
    ["TARGET_ROLE_NAMES", { TARGET_ROLE_NAMES: ", ," }],
    ["TARGET_ROLE_NAMES", { TARGET_ROLE_NAMES: "A".repeat(65) }],
    ["DEFAULT_TARGET_ROLE", { DEFAULT_TARGET_ROLE: "NotInTheList" }],
    ["DEFAULT_TARGET_ROLE", { TARGET_ROLE_NAMES: "Onboarder" }],
    // Powertools itself would run at INFO without a word.
    ["POWERTOOLS_LOG_LEVEL", { POWERTOOLS_LOG_LEVEL: "LOUD" }],
  ])("refuses a bad %s by name", (setting, env) => {
    // Act
    const error = refusal(env);

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ConfigurationError");
    expect(error.message).toMatch(new RegExp(`^setting ${setting}: `));
  });
});
