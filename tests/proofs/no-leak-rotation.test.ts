import { afterEach, describe, expect, it } from "vitest";
import type { StepRun } from "../../functions/lib/define-step.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { harvestSecrets, secretsIn, TARGET } from "./support.ts";

/*
 * No secret of a rotation (the new and old secret access keys and console passwords, the Redis API
 * keys) in the execution's history (every state's input and output), its output, its error, or the
 * events it published: a rotation that succeeds, and one that fails after making its key.
 */

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function rotationSeenFromOutside(runs?: Record<string, StepRun<unknown>>) {
  const e = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  env = e;
  expect((await e.run({ accountId: TARGET })).status).toBe("SUCCEEDED");
  const secrets = harvestSecrets(e);
  const result = await e.runWorkflow("rotation", { accountId: TARGET, rotate: true }, runs ? { runs } : {});
  // The new key's secret and password, and those a failed rotation deleted, as they are now.
  harvestSecrets(e, secrets);
  const seen = JSON.stringify([result.events, result.output ?? null, result.error ?? null, e.published]);
  return { result, secrets, seen };
}

describe("a rotation's history, output and events", () => {
  it("carry no secret when it succeeds", async () => {
    const { result, secrets, seen } = await rotationSeenFromOutside();
    expect(result.status).toBe("SUCCEEDED");
    expect(secrets.size).toBeGreaterThan(4);
    expect(secretsIn(seen, secrets)).toEqual([]);
  });

  it("carry no secret when it fails after making its key and password", async () => {
    const seenSecrets = new Set<string>();
    const runs = {
      verifyAccessKey: (async () => {
        // The pending key and password exist now: harvested before the undo deletes them.
        if (env) harvestSecrets(env, seenSecrets);
        throw new WorkflowError("AccessDenied", "VerifyAccessKey: refused for the test");
      }) as StepRun<unknown>,
    };
    const e = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
    env = e;
    expect((await e.run({ accountId: TARGET })).status).toBe("SUCCEEDED");
    const result = await e.runWorkflow(
      "rotation",
      { accountId: TARGET, rotate: true },
      { runs: { ...e.runs, ...runs } },
    );
    expect(result.error?.Error).toBe("AccessDenied");
    harvestSecrets(e, seenSecrets);
    const seen = JSON.stringify([result.events, result.error ?? null, e.published]);
    expect(secretsIn(seen, seenSecrets)).toEqual([]);
  });
});
