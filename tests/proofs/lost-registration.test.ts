import { afterEach, describe, expect, it } from "vitest";
import type { StepRun } from "../../functions/lib/define-step.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import {
  HOME,
  type LocalEnvironment,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import { settleRedis, statesEntered, TARGET } from "./support.ts";

/*
 * A registration whose answer is lost: Redis carries out the POST, the client sees its connection
 * dropped. The registrar, which registers for the run's RegisterCloudAccount state, tries again on
 * its next tick; the step's code then finds the cloud account by name and full key, and the
 * registry, written before the POST, says this execution asked for it, so it is this run's (not
 * reused): kept by a success, deleted by the withdrawal of a rollback. No orphan at Redis either way.
 */

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const CREATE = "POST /v1/cloud-accounts";

/** An environment whose first registration is done at Redis but its answer lost. */
async function losingFirstRegistration() {
  forgetRedisApiKeys();
  const e = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  env = e;
  let lost = false;
  e.redis.state.options.fault = (request) => {
    if (lost || `${request.method} ${request.path}` !== CREATE) return undefined;
    lost = true;
    return "lost";
  };
  const outputs: unknown[] = [];
  const register = e.runs.registerCloudAccount as StepRun<unknown>;
  const runs = {
    ...e.runs,
    // Redis finishes the lost request's task before the registrar's retry looks (a tick later).
    registerCloudAccount: (async (event, runtime) => {
      if (lost) await settleRedis(e);
      const output = await register(event, runtime);
      outputs.push(output);
      return output;
    }) as StepRun<unknown>,
  };
  const posts = () => e.redis.state.requests.filter((r) => `${r.method} ${r.path}` === CREATE);
  return { e, runs, outputs, posts, wasLost: () => lost };
}

describe("a registration whose answer is lost", () => {
  it("is found again by name and full key on the retry, as this run's, and kept by its success", async () => {
    const { e, runs, outputs, posts, wasLost } = await losingFirstRegistration();

    const result = await e.run({ accountId: TARGET }, { runs });

    expect(wasLost()).toBe(true);
    expect(result.status).toBe("SUCCEEDED");
    const cloudAccountId = (result.output as { cloudAccountId: number }).cloudAccountId;
    expect(outputs).toEqual([{ cloudAccountId, reused: false }]);
    expect(posts()).toHaveLength(1);
    expect([...e.redis.state.accounts.keys()]).toEqual([cloudAccountId]);
    const item = registryItemOf(e.aws.account(HOME.accountId).dynamodb, TARGET);
    expect(item?.registration).toMatchObject({ cloudAccountId, origin: "created", requests: 1 });
  });

  it("is deleted by the rollback of a later failure: no orphan at Redis", async () => {
    const { e, runs, outputs, posts } = await losingFirstRegistration();
    // The cloud account ends active-error: the registrar's check fails the run's
    // RegisterCloudAccount, after the registration.
    e.redis.state.options.failAccounts = true;

    const result = await e.run({ accountId: TARGET }, { runs });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("CloudAccountError");
    const failed = result.events.flatMap((ev) => (ev.type === "StateFailed" ? [ev.state.name] : []));
    // The registrar's answer fails the waiting state, once; then only the run's own end fails.
    expect(failed).toEqual(["RegisterCloudAccount", "OnboardingFailed"]);
    // Withdrawn at Redis through the registrar, then rolled back in AWS: once each.
    const entered = statesEntered(result);
    expect(entered.filter((s) => s === "WithdrawRegistration")).toHaveLength(1);
    expect(entered.filter((s) => s === "RollBack")).toHaveLength(1);
    expect(entered.indexOf("WithdrawRegistration")).toBeLessThan(entered.indexOf("RollBack"));
    const [registered] = outputs as { cloudAccountId: number; reused: boolean }[];
    expect(registered?.reused).toBe(false);
    expect(posts()).toHaveLength(1);
    const deletes = e.redis.state.requests.filter((r) => r.method === "DELETE");
    expect(deletes.map((r) => r.path)).toEqual([`/v1/cloud-accounts/${registered?.cloudAccountId}`]);
    await settleRedis(e);
    expect([...e.redis.state.accounts.keys()]).toEqual([]);
  });
});
