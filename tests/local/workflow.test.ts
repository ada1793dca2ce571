import { describe, expect, it } from "vitest";
import { definitionFile, loadDefinition, workflowOfRef } from "../../local/workflow.ts";

describe("the local runner's workflows", () => {
  it("names the workflow a definition's state machine Ref points at", () => {
    expect(workflowOfRef("OnboardingStateMachine")).toBe("onboarding");
    expect(workflowOfRef("BulkOnboardingStateMachine")).toBe("bulk-onboarding");
    expect(() => workflowOfRef("AccountRegistryTable")).toThrow(/logical id/);
  });

  it("reads each workflow from statemachine/<name>.asl.yml, a fresh copy per caller", () => {
    expect(definitionFile("reconcile").pathname).toMatch(/statemachine\/reconcile\.asl\.yml$/);
    const first = loadDefinition();
    first.States = {};
    expect(Object.keys(loadDefinition().States)).toContain("ValidateInput");
  });
});
