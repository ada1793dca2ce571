import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../functions/lib/config.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import {
  decide,
  loadVendingSettings,
  readVendingEvent,
  type VendedAccount,
  type VendingSettings,
} from "../../../functions/lib/vending-events.ts";
import ctCreate from "../../fixtures/events/controltower-create-managed-account.json" with { type: "json" };
import ctCreateFailed from "../../fixtures/events/controltower-create-managed-account-failed.json" with {
  type: "json",
};
import ouRegistered from "../../fixtures/events/controltower-register-organizational-unit.json" with {
  type: "json",
};
import ctUpdate from "../../fixtures/events/controltower-update-managed-account.json" with { type: "json" };
import ctUpdateFailed from "../../fixtures/events/controltower-update-managed-account-failed.json" with {
  type: "json",
};
import orgCreate from "../../fixtures/events/organizations-create-account-result.json" with { type: "json" };
import orgCreateFailed from "../../fixtures/events/organizations-create-account-result-failed.json" with {
  type: "json",
};

const config = loadConfig({});
const settings: VendingSettings = loadVendingSettings({}, config);

describe("readVendingEvent", () => {
  it("reads the new account of a Control Tower CreateManagedAccount, not the envelope's management account", () => {
    // Act
    const reading = readVendingEvent(ctCreate);

    // Assess
    expect(ctCreate.account).toBe("111111111111");
    expect(reading).toEqual({
      kind: "account",
      account: {
        source: "controltower",
        eventName: "CreateManagedAccount",
        accountId: "222222222222",
        accountName: "LifeCycle1",
        organizationalUnitId: "ou-abcd-l3zc8b3h",
      },
    });
  });

  it("reads an UpdateManagedAccount like the create it retries", () => {
    // Act
    const reading = readVendingEvent(ctUpdate);

    // Assess
    expect(reading).toMatchObject({
      kind: "account",
      account: { source: "controltower", eventName: "UpdateManagedAccount", accountId: "222222222222" },
    });
  });

  it("reads an Organizations CreateAccountResult and drops the name CloudTrail masks", () => {
    // Act
    const reading = readVendingEvent(orgCreate);

    // Assess
    expect(reading).toEqual({
      kind: "account",
      account: { source: "organizations", eventName: "CreateAccountResult", accountId: "444455556666" },
    });
  });

  it.each([
    ["a failed Control Tower create", ctCreateFailed, "CreateManagedAccount state is FAILED"],
    ["a failed Control Tower update", ctUpdateFailed, "UpdateManagedAccount state is FAILED"],
    ["a failed Organizations create", orgCreateFailed, "CreateAccountResult state is FAILED"],
    ["an OU registration", ouRegistered, "not an account-vending event"],
    [
      "an EC2 event",
      { source: "aws.ec2", "detail-type": "EC2 Instance State-change Notification" },
      "not an account-vending event",
    ],
    ["no object at all", "QxText", "not an account-vending event"],
  ])("ignores %s", (_case, event, reason) => {
    expect(readVendingEvent(event)).toEqual({ kind: "ignored", reason });
  });

  it("refuses a SUCCEEDED vending event without an account id, so that it reaches the dead-letter queue", () => {
    // Arrange
    const broken = structuredClone(ctCreate);
    broken.detail.serviceEventDetails.createManagedAccountStatus.account.accountId = "not-an-account";

    // Act / Assess
    expect(() => readVendingEvent(broken)).toThrowError(
      new WorkflowError(
        "InvalidInput",
        "CreateManagedAccount event: a SUCCEEDED event without a 12-digit account id",
      ),
    );
  });
});

describe("loadVendingSettings", () => {
  it("defaults to both sources, each with its own role, and every OU", () => {
    expect(settings).toEqual({
      sources: ["controltower", "organizations"],
      roleNames: { controltower: "AWSControlTowerExecution", organizations: "OrganizationAccountAccessRole" },
      allowedOuIds: [],
    });
  });

  it("reads the OU allow-list as a comma-separated list", () => {
    // Act
    const loaded = loadVendingSettings({ ALLOWED_OU_IDS: " ou-abcd-l3zc8b3h, ou-abcd-99999999 ," }, config);

    // Assess
    expect(loaded.allowedOuIds).toEqual(["ou-abcd-l3zc8b3h", "ou-abcd-99999999"]);
  });

  it.each([
    ["CONTROL_TOWER_ROLE_NAME", { CONTROL_TOWER_ROLE_NAME: "ZebraRole" }, "must be one of TARGET_ROLE_NAMES"],
    ["ORGANIZATIONS_ROLE_NAME", { ORGANIZATIONS_ROLE_NAME: "ZebraRole" }, "must be one of TARGET_ROLE_NAMES"],
    [
      "ALLOWED_OU_IDS",
      { ALLOWED_OU_IDS: "ou-abcd-l3zc8b3h,Custom" },
      "must be a comma-separated list of OU ids",
    ],
    ["VENDING_SOURCES", { VENDING_SOURCES: "controltower,servicecatalog" }, "must be a comma-separated list"],
    ["VENDING_SOURCES", { VENDING_SOURCES: " " }, "must be a comma-separated list"],
  ])("stops the cold start on a bad %s, by name", (setting, env, problem) => {
    expect(() => loadVendingSettings(env, config)).toThrowError(
      expect.objectContaining({
        name: "ConfigurationError",
        message: expect.stringContaining(`setting ${setting}: ${problem}`),
      }),
    );
  });

  it("does not require the role of a source that is not enabled", () => {
    // Act
    const loaded = loadVendingSettings(
      { VENDING_SOURCES: "controltower", ORGANIZATIONS_ROLE_NAME: "ZebraRole" },
      config,
    );

    // Assess
    expect(loaded.sources).toEqual(["controltower"]);
  });
});

describe("decide", () => {
  const ct: VendedAccount = {
    source: "controltower",
    eventName: "CreateManagedAccount",
    accountId: "222222222222",
    accountName: "LifeCycle1",
    organizationalUnitId: "ou-abcd-l3zc8b3h",
  };
  const org: VendedAccount = {
    source: "organizations",
    eventName: "CreateAccountResult",
    accountId: "444455556666",
  };

  it("assumes the role that the source creates in the new account", () => {
    expect(decide(ct, settings)).toEqual({
      kind: "start",
      accountId: "222222222222",
      roleName: "AWSControlTowerExecution",
      accountName: "LifeCycle1",
    });
    expect(decide(org, settings)).toEqual({
      kind: "start",
      accountId: "444455556666",
      roleName: "OrganizationAccountAccessRole",
    });
  });

  it("starts a Control Tower account of an allowed OU", () => {
    expect(decide(ct, { ...settings, allowedOuIds: ["ou-abcd-l3zc8b3h"] })).toMatchObject({ kind: "start" });
  });

  it("ignores a Control Tower account of another OU when an allow-list is set", () => {
    expect(decide(ct, { ...settings, allowedOuIds: ["ou-abcd-99999999"] })).toEqual({
      kind: "ignored",
      reason: "OU ou-abcd-l3zc8b3h is not in ALLOWED_OU_IDS",
    });
  });

  it("ignores an Organizations account when an allow-list is set, as it names no OU", () => {
    expect(decide(org, { ...settings, allowedOuIds: ["ou-abcd-l3zc8b3h"] })).toEqual({
      kind: "ignored",
      reason: "OU (none) is not in ALLOWED_OU_IDS",
    });
  });

  it("ignores a source that is not enabled", () => {
    expect(decide(org, { ...settings, sources: ["controltower"] })).toEqual({
      kind: "ignored",
      reason: "organizations events are not enabled (VENDING_SOURCES)",
    });
  });
});
