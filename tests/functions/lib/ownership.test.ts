import { describe, expect, it } from "vitest";
import { foreignResource, identityOf, NO_OWNERSHIP, Ownership } from "../../../functions/lib/ownership.ts";
import type { RegistryItem } from "../../../functions/lib/registry.ts";
import type { Change } from "../../../functions/lib/step.ts";
import { arnIn, EXECUTION, registryItemOwning, TARGET } from "../../support/aws.ts";

const POLICY_ARN = arnIn(TARGET, "policy/RedisLabsInstanceRolePolicy");
const key = (accessKeyId: string): Change => ({ type: "AccessKey", user: "redislabs-user", accessKeyId });

const registration = (fields: Partial<NonNullable<RegistryItem["registration"]>>) => ({
  name: "payments-prod",
  accessKeyId: "AKIAREGISTERED000001",
  execution: EXECUTION,
  requestedAt: "2026-01-01T00:00:00.000Z",
  origin: "created" as const,
  ...fields,
});

describe("Ownership", () => {
  it("owns what the registry says the product made, and everything about it", () => {
    // Prepare
    const ownership = new Ownership(registryItemOwning([{ type: "Role", name: "redislabs-role" }]), false);

    // Assess
    expect(ownership.owns({ type: "Role", name: "redislabs-role" })).toBe(true);
    expect(ownership.owns({ type: "TrustPolicy", role: "redislabs-role", previousDocument: "{}" })).toBe(
      true,
    );
    expect(ownership.owns({ type: "Role", name: "redislabs-cluster-node-role" })).toBe(false);
  });

  it("owns what a run adopted", () => {
    // Prepare
    const item: RegistryItem = {
      ...registryItemOwning(),
      resources: [
        {
          change: { type: "Policy", arn: POLICY_ARN },
          execution: "onboard-earlier",
          origin: "adopted",
          recordedAt: "2026-01-01T00:00:00.000Z",
          prior: JSON.stringify({ defaultVersionId: "v2" }),
        },
      ],
    };

    // Assess
    expect(new Ownership(item, false).owns({ type: "Policy", arn: POLICY_ARN })).toBe(true);
  });

  it("owns nothing because a run changed it: a new version or a trust policy is no claim on the resource", () => {
    // Prepare
    const ownership = new Ownership(
      registryItemOwning([
        { type: "PolicyVersion", arn: POLICY_ARN, versionId: "v3", previousDefaultVersionId: "v2" },
        { type: "TrustPolicy", role: "redislabs-role", previousDocument: "{}" },
        { type: "UserPolicyAttachment", user: "redislabs-user", policyArn: POLICY_ARN },
      ]),
      false,
    );

    // Assess
    expect(ownership.owns({ type: "Policy", arn: POLICY_ARN })).toBe(false);
    expect(ownership.owns({ type: "Role", name: "redislabs-role" })).toBe(false);
    expect(ownership.owns({ type: "User", name: "redislabs-user" })).toBe(false);
  });

  it("owns each access key by its own id", () => {
    // Prepare
    const ownership = new Ownership(registryItemOwning([key("AKIAMADE000000000001")]), false);

    // Assess
    expect(ownership.owns(key("AKIAMADE000000000001"))).toBe(true);
    expect(ownership.owns(key("AKIAHUMAN00000000001"))).toBe(false);
  });

  it("counts as Redis's the item's key and the key of a registration it asked Redis for", () => {
    // Prepare
    const asked = new Ownership(
      registryItemOwning([], {
        accessKeyId: "AKIAINUSE00000000001",
        registration: registration({ taskId: "task-1" }),
      }),
      false,
    );
    const notYetAsked = new Ownership(registryItemOwning([], { registration: registration({}) }), false);

    // Assess
    expect([...asked.redisKeys].sort()).toEqual(["AKIAINUSE00000000001", "AKIAREGISTERED000001"]);
    expect([...notYetAsked.redisKeys]).toEqual([]);
  });

  it("owns nothing and adopts nothing without a registry item", () => {
    // Assess
    expect(NO_OWNERSHIP.owns({ type: "User", name: "redislabs-user" })).toBe(false);
    expect(NO_OWNERSHIP.adopt).toBe(false);
    expect([...NO_OWNERSHIP.redisKeys]).toEqual([]);
  });
});

describe("identityOf", () => {
  it("names a login profile's reset password by its user, and a secret's value and policy by the secret", () => {
    // Assess
    expect(identityOf({ type: "LoginProfilePassword", user: "redislabs-user" })).toBe("user redislabs-user");
    expect(identityOf({ type: "SecretValue", arn: "arn:s", previousVersionId: "v-1" })).toBe("secret arn:s");
    expect(identityOf({ type: "SecretPolicy", arn: "arn:s" })).toBe("secret arn:s");
    expect(identityOf({ type: "InstanceProfileRoleRemoval", profile: "p", role: "r" })).toBe(
      "instance profile p",
    );
  });
});

describe("foreignResource", () => {
  it("names each resource and what differs, and offers adopting when nothing blocks it", () => {
    // Act
    const error = foreignResource("EnsureThing", [
      { resource: "role a", differences: ["its trust differs", "it has other policies attached: x"] },
    ]);

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toBe(
      'EnsureThing: found resources this product did not make that differ from what Redis requires: role a (its trust differs; it has other policies attached: x). Nothing was changed: make them as Redis requires, delete them, or run again with "adopt": true to take them over (their state before is recorded and given back if the run fails)',
    );
  });

  it("names why adopting is refused, and offers no adoption, when a finding blocks it", () => {
    // Act
    const error = foreignResource("EnsureThing", [
      { resource: "user u", differences: ["it has access keys"], blocking: "it has two keys" },
    ]);

    // Assess
    expect(error.message).toContain("user u (it has access keys; it has two keys)");
    expect(error.message).toContain("change these by hand");
    expect(error.message).not.toContain('"adopt": true');
  });
});
