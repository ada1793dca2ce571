import { describe, expect, it } from "vitest";
import { type Change, PlanSink } from "../../../functions/lib/step.ts";
import { recorderFor } from "../../../functions/lib/target-step.ts";
import { adoptingInput, ownedRegistry, rejectionOf, stepInput, TARGET } from "../../support/aws.ts";

const ROLE: Change = { type: "Role", name: "redislabs-role" };
const FINDING = { resource: "role redislabs-role", differences: ["its trust policy differs"] };

describe("recorderFor", () => {
  it("reads what the product owns in the target account from the registry", async () => {
    // Prepare
    const { registry } = ownedRegistry([ROLE]);
    const asked: string[] = [];
    const get = registry.get.bind(registry);
    registry.get = async (accountId) => {
      asked.push(accountId);
      return get(accountId);
    };

    // Act
    const rec = await recorderFor("EnsureThing", stepInput(), { registry });

    // Assess
    expect(asked).toEqual([TARGET]);
    expect(rec.owns(ROLE)).toBe(true);
    expect(rec.owns({ type: "Role", name: "redislabs-cluster-node-role" })).toBe(false);
  });

  it("refuses a foreign resource without adopt, recording nothing", async () => {
    // Prepare
    const { registry, recorded } = ownedRegistry();
    const rec = await recorderFor("EnsureThing", stepInput(), { registry });

    // Act
    const error = await rejectionOf(rec.foreign(FINDING, { change: ROLE, prior: { trust: {} } }));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(recorded).toEqual([]);
  });

  it("keeps an adoption in the registry with its state before when the input adopts", async () => {
    // Prepare
    const { registry, recorded } = ownedRegistry();
    const rec = await recorderFor("EnsureThing", adoptingInput(), { registry });

    // Act
    await rec.foreign(FINDING, { change: ROLE, prior: { trust: {} } });
    await rec.record({ type: "TrustPolicy", role: "redislabs-role", previousDocument: "{}" });

    // Assess
    expect(recorded).toEqual([
      { change: ROLE, origin: "adopted", prior: JSON.stringify({ trust: {} }) },
      {
        change: { type: "TrustPolicy", role: "redislabs-role", previousDocument: "{}" },
        origin: "created",
      },
    ]);
    expect(rec.report().adopted).toEqual(["role redislabs-role"]);
  });

  it("in a plan writes nothing to the registry and lists the finding instead of stopping", async () => {
    // Prepare
    const { registry, recorded } = ownedRegistry();
    const plan = new PlanSink();
    const rec = await recorderFor("EnsureThing", stepInput(), { registry, plan });

    // Act
    await rec.foreign(FINDING, { change: ROLE, prior: { trust: {} } });
    await rec.record({ type: "TrustPolicy", role: "redislabs-role", previousDocument: "{}" });
    const answer = await rec.change("UpdateAssumeRolePolicy", "redislabs-role", async () => {
      throw new Error("a plan must not send a write");
    });

    // Assess
    expect(recorded).toEqual([]);
    expect(answer).toBeUndefined();
    expect(plan.findings).toEqual([{ step: "EnsureThing", ...FINDING }]);
    expect(plan.writes).toEqual([
      {
        step: "EnsureThing",
        kind: "change",
        operation: "UpdateAssumeRolePolicy",
        resource: "redislabs-role",
      },
    ]);
  });

  it("stops a plan at a finding that blocks adopting", async () => {
    // Prepare
    const plan = new PlanSink();
    const rec = await recorderFor("EnsureThing", stepInput(), { registry: ownedRegistry().registry, plan });

    // Act
    const error = await rejectionOf(
      rec.foreign({ ...FINDING, blocking: "it has inline policies" }, { change: ROLE, prior: {} }),
    );

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(plan.findings).toHaveLength(1);
  });
});
