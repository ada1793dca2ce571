import { describe, expect, it } from "vitest";
import { HEARTBEAT_SECONDS, WAIT_FOR_TOKEN } from "../../local/registrar.ts";
import { loadDefinition, type WorkflowName } from "../../local/workflow.ts";

/*
 * The local registrar times out a silent wait as Step Functions would (tests/proofs/
 * registrar-silent.test.ts): after the HeartbeatSeconds the definitions give every such wait.
 */

type States = Record<
  string,
  { Resource?: string; HeartbeatSeconds?: number; ItemProcessor?: { States: States } }
>;

const waits = (states: States): { state: string; heartbeat?: number }[] =>
  Object.entries(states).flatMap(([state, body]) => [
    ...(body.Resource === WAIT_FOR_TOKEN ? [{ state, heartbeat: body.HeartbeatSeconds }] : []),
    ...(body.ItemProcessor ? waits(body.ItemProcessor.States) : []),
  ]);

const WORKFLOWS: WorkflowName[] = ["onboarding", "offboarding", "rotation", "bulk-onboarding", "reconcile"];

describe("the local registrar's heartbeat timeout", () => {
  it("is the HeartbeatSeconds of every wait on the registrar, in every workflow", () => {
    const found = WORKFLOWS.flatMap((name) =>
      waits(loadDefinition(name).States as States).map((w) => ({ workflow: name, ...w })),
    );
    expect(found.length).toBeGreaterThanOrEqual(6);
    for (const wait of found)
      expect(wait, `${wait.workflow}.${wait.state}`).toMatchObject({ heartbeat: HEARTBEAT_SECONDS });
  });
});
