import { describe, expect, it } from "vitest";
import { readSettings } from "../../../functions/lib/config.ts";
import { decide, VENDING_SETTINGS, type VendingSettings } from "../../../functions/lib/vending-decision.ts";
import type { VendedAccount } from "../../../functions/lib/vending-events.ts";

const settings: VendingSettings = readSettings(VENDING_SETTINGS, {});

describe("the vending settings", () => {
  it("default to both sources, each with its own role, and every OU", () => {
    expect(settings).toEqual({
      vendingSources: ["controltower", "organizations"],
      controlTowerRoleName: "AWSControlTowerExecution",
      organizationsRoleName: "OrganizationAccountAccessRole",
      allowedOuIds: [],
    });
  });

  it("read the OU allow-list as a comma-separated list", () => {
    // Act
    const loaded = readSettings(VENDING_SETTINGS, {
      ALLOWED_OU_IDS: " ou-abcd-l3zc8b3h, ou-abcd-99999999 ,",
    });

    // Assess
    expect(loaded.allowedOuIds).toEqual(["ou-abcd-l3zc8b3h", "ou-abcd-99999999"]);
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
    expect(decide(org, { ...settings, vendingSources: ["controltower"] })).toEqual({
      kind: "ignored",
      reason: "organizations events are not enabled (VENDING_SOURCES)",
    });
  });

  it("does not repeat an OU that is not shaped like an OU id", () => {
    // Arrange
    const odd = { ...ct, organizationalUnitId: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

    // Act / Assess
    expect(decide(odd, { ...settings, allowedOuIds: ["ou-abcd-l3zc8b3h"] })).toEqual({
      kind: "ignored",
      reason: "OU (not an OU id) is not in ALLOWED_OU_IDS",
    });
  });
});
