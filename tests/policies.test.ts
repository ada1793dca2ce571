import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { samePolicy } from "../functions/lib/policies.ts";
import instancePolicy from "../policies/RedisLabsInstanceRolePolicy.json" with { type: "json" };
import userPolicy from "../policies/RedislabsIAMUserRestrictedPolicy.json" with { type: "json" };
import nodeTrust from "../policies/redislabs-cluster-node-role.trust.json" with { type: "json" };
import consoleTrust from "../policies/redislabs-role.trust.json" with { type: "json" };

// Redis's page for this procedure, current version: in the shared/ folder beside the repository,
// which CI and developer machines have and a plain clone does not.
const SEED_REL = "../shared/seeds/003_c120d45c46960952.txt";
const SEED = fileURLToPath(new URL(`../${SEED_REL}`, import.meta.url));
const seedPresent = existsSync(SEED);
const WHY_SKIPPED = `skipped: ${SEED_REL} (Redis's page, kept beside the repository on CI and developer machines) is absent`;

/** The JSON code blocks of the page, in order: the instance policy, then the user policy. */
function seedDocuments(): unknown[] {
  const page = readFileSync(SEED, "utf8");
  return [...page.matchAll(/```(?:js|json)\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1] ?? ""));
}

describe.skipIf(!seedPresent)(
  `policies/ against Redis's current procedure (seed 003)${seedPresent ? "" : `, ${WHY_SKIPPED}`}`,
  () => {
    it("ships RedisLabsInstanceRolePolicy statement for statement", () => {
      const [seed] = seedDocuments();
      expect(instancePolicy).toEqual(seed);
    });

    it("ships RedislabsIAMUserRestrictedPolicy statement for statement", () => {
      const [, seed] = seedDocuments();
      expect(userPolicy).toEqual(seed);
    });
  },
);

describe("trust policies", () => {
  it("lets only EC2 assume the cluster node role", () => {
    expect(nodeTrust.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
    ]);
  });

  it("lets Redis's account assume the console role with MFA and without an external id", () => {
    const [statement, ...others] = consoleTrust.Statement;
    expect(others).toEqual([]);
    expect(samePolicy({ Statement: [statement?.Principal] }, { Statement: [{ AWS: "168085023892" }] })).toBe(
      true,
    );
    expect(statement?.Condition).toEqual({ Bool: { "aws:MultiFactorAuthPresent": "true" } });
    expect(JSON.stringify(consoleTrust)).not.toMatch(/ExternalId/);
  });
});
