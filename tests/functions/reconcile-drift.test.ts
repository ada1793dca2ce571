import { describe, expect, it } from "vitest";
import { DRIFT_KINDS, driftOfPlan } from "../../functions/lib/drift.ts";
import type { PlannedWrite } from "../../functions/lib/step.ts";

const write = (operation: string, resource: string): PlannedWrite => ({
  step: "S",
  kind: "change",
  operation,
  resource,
});

describe("driftOfPlan", () => {
  it("names each write a run would make by a stable kind, once per kind and resource", () => {
    const drift = driftOfPlan(
      [
        write("DeletePolicyVersion", "arn:p v1"),
        write("CreatePolicyVersion", "arn:p"),
        write("UpdateAssumeRolePolicy", "redislabs-role"),
        write("CreateInstanceProfile", "redislabs-cluster-node-role"),
        write("AddRoleToInstanceProfile", "redislabs-cluster-node-role"),
        write("AddRoleToInstanceProfile", "redislabs-cluster-node-role"),
        write("AttachRolePolicy", "arn:p to role redislabs-role"),
      ],
      [],
    );
    expect(drift.map((d) => [d.kind, d.resource])).toEqual([
      ["PolicyDocumentChanged", "arn:p"],
      ["TrustPolicyChanged", "redislabs-role"],
      ["InstanceProfileMissing", "redislabs-cluster-node-role"],
      ["AttachmentMissing", "arn:p to role redislabs-role"],
    ]);
    for (const d of drift) expect(DRIFT_KINDS).toContain(d.kind);
  });

  it("names a foreign resource as such, with what differs, never as something to repair", () => {
    const drift = driftOfPlan(
      [],
      [{ resource: "role redislabs-role", differences: ["its trust policy is not Redis's"] }],
    );
    expect(drift).toEqual([
      { kind: "ForeignResource", resource: "role redislabs-role", detail: "its trust policy is not Redis's" },
    ]);
  });
});
