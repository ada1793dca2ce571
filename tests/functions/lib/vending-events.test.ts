import { describe, expect, it } from "vitest";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { readVendingEvent, VendingEventSchema } from "../../../functions/lib/vending-events.ts";
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

/** The event as the handler reads it: through the parser middleware's schema, then the status. */
const read = (event: unknown) => readVendingEvent(VendingEventSchema.safeParse(event));

describe("readVendingEvent", () => {
  it("reads the new account of a Control Tower CreateManagedAccount, not the envelope's management account", () => {
    // Act
    const reading = read(ctCreate);

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
    const reading = read(ctUpdate);

    // Assess
    expect(reading).toMatchObject({
      kind: "account",
      account: { source: "controltower", eventName: "UpdateManagedAccount", accountId: "222222222222" },
    });
  });

  it("reads an Organizations CreateAccountResult and drops the name CloudTrail masks", () => {
    // Act
    const reading = read(orgCreate);

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
    expect(read(event)).toEqual({ kind: "ignored", reason });
  });

  it("refuses a SUCCEEDED vending event without an account id, so that it reaches the dead-letter queue", () => {
    // Arrange
    const broken = structuredClone(ctCreate);
    broken.detail.serviceEventDetails.createManagedAccountStatus.account.accountId = "not-an-account";

    // Act / Assess
    expect(() => read(broken)).toThrowError(
      new WorkflowError(
        "InvalidInput",
        "CreateManagedAccount event: a SUCCEEDED event without a 12-digit account id",
      ),
    );
  });

  it("reads missing service event details, or details that are not an object, as a missing state", () => {
    // Arrange
    const { serviceEventDetails: _dropped, ...withoutDetails } = ctCreate.detail;
    const noDetails = { ...ctCreate, detail: withoutDetails };
    const textDetails = { ...orgCreate, detail: { ...orgCreate.detail, serviceEventDetails: "QxValue" } };

    // Act / Assess
    expect(read(noDetails)).toEqual({ kind: "ignored", reason: "CreateManagedAccount state is missing" });
    expect(read(textDetails)).toEqual({ kind: "ignored", reason: "CreateAccountResult state is missing" });
  });

  it("does not repeat a state AWS does not send", () => {
    // Arrange
    const odd = structuredClone(ctCreate);
    odd.detail.serviceEventDetails.createManagedAccountStatus.state = "QxValue";

    // Act / Assess
    expect(read(odd)).toEqual({ kind: "ignored", reason: "CreateManagedAccount state is not SUCCEEDED" });
  });

  it("onboards an account whose name or OU is not text, without them, rather than refuse it", () => {
    // Arrange
    const odd = structuredClone(ctCreate) as unknown as {
      detail: { serviceEventDetails: { createManagedAccountStatus: Record<string, unknown> } };
    };
    const status = odd.detail.serviceEventDetails.createManagedAccountStatus;
    status.account = { accountId: "222222222222", accountName: 42 };
    status.organizationalUnit = "QxValue";

    // Act / Assess
    expect(read(odd)).toEqual({
      kind: "account",
      account: { source: "controltower", eventName: "CreateManagedAccount", accountId: "222222222222" },
    });
  });
});
