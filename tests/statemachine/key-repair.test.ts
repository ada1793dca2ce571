import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StepRun } from "../../functions/lib/define-step.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { Registry } from "../../functions/lib/registry.ts";
import type { Change } from "../../functions/lib/step.ts";
import { failableState, failingAt } from "../../local/cli/fail-at.ts";
import {
  HOME,
  type LocalEnvironment,
  REGISTRY_TABLE,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import { replaceKey, settleRedis, statesEntered, TARGET } from "../proofs/support.ts";

/*
 * An account onboarded on key K1 whose secret now holds K2 (the key was replaced): the next run
 * runs the real definition and moves Redis's one cloud account to K2 (a PUT, never a second
 * POST), then deletes K1 only once Redis is active on K2. A failure after the PUT keeps K2.
 */

let env: LocalEnvironment;

beforeEach(async () => {
  forgetRedisApiKeys();
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const keysOfUser = () =>
  (env.aws.account(TARGET).users.get("redislabs-user")?.keys ?? []).map((k) => k.AccessKeyId);
const registry = () => registryItemOf(env.aws.account(HOME.accountId).dynamodb, TARGET);
const requestsSince = (from: number) =>
  env.redis.state.requests.slice(from).map((r) => `${r.method} ${r.path.replace(/\/\d+$/, "/{id}")}`);

/** The first run onboards the account on K1; then K1 is replaced by K2 in IAM and the secret. */
async function onboardedThenReplaced() {
  const first = await env.run({ accountId: TARGET });
  expect(first.status).toBe("SUCCEEDED");
  const cloudAccountId = (first.output as { cloudAccountId: number }).cloudAccountId;
  const keys = await replaceKey(env, TARGET);
  return { cloudAccountId, ...keys };
}

describe("a run whose secret holds another key than the registry's cloud account", () => {
  it("moves the cloud account to the new key (one PUT, no POST) and deletes the old key only after active", async () => {
    // Prepare
    const { cloudAccountId, previous, next } = await onboardedThenReplaced();
    const from = env.redis.state.requests.length;
    const seenByRetire: { status?: string; key?: string; previousHeld: boolean }[] = [];
    const retire = env.runs.retireOldKey as StepRun<unknown>;
    const runs = {
      ...env.runs,
      retireOldKey: (async (event, runtime) => {
        const account = env.redis.state.accounts.get(cloudAccountId);
        seenByRetire.push({
          status: account?.status,
          key: account?.accessKeyId,
          previousHeld: keysOfUser().includes(previous),
        });
        return retire(event, runtime);
      }) as StepRun<unknown>,
    };

    // Act
    const second = await env.run({ accountId: TARGET }, { runs });

    // Assess
    expect(second.status).toBe("SUCCEEDED");
    const writes = requestsSince(from).filter((r) => !r.startsWith("GET "));
    expect(writes).toEqual(["PUT /v1/cloud-accounts/{id}"]);
    expect([...env.redis.state.accounts.keys()]).toEqual([cloudAccountId]);
    expect(env.redis.state.accounts.get(cloudAccountId)).toMatchObject({
      accessKeyId: next,
      status: "active",
    });
    // Retired once, when Redis was active on the new key and the old one still existed.
    expect(seenByRetire).toEqual([{ status: "active", key: next, previousHeld: true }]);
    expect(keysOfUser()).toEqual([next]);
    expect(second.output).toMatchObject({
      cloudAccountId,
      accessKeyId: next,
      steps: { oldKeys: { retired: [previous] } },
    });
    expect(registry()).toMatchObject({ status: "active", cloudAccountId, accessKeyId: next });
    expect(registry()?.registration).toMatchObject({
      kind: "update",
      accessKeyId: next,
      previousAccessKeyId: previous,
      cloudAccountId,
      origin: "found",
    });
  });

  it("retires nothing on a re-run whose key Redis already holds", async () => {
    // Prepare
    const first = await env.run({ accountId: TARGET });
    const keys = keysOfUser();
    const from = env.redis.state.requests.length;

    // Act
    const second = await env.run({ accountId: TARGET });

    // Assess
    expect(first.status).toBe("SUCCEEDED");
    expect(second.status).toBe("SUCCEEDED");
    expect(second.output).toMatchObject({ steps: { oldKeys: { retired: [] } } });
    expect(requestsSince(from).filter((r) => !r.startsWith("GET "))).toEqual([]);
    expect(keysOfUser()).toEqual(keys);
  });

  it("keeps the new key, recorded as this run's, when the run fails after the PUT: Redis stays on it", async () => {
    // Prepare: EnsureUser as a rotation makes it, the new key recorded as this run's own.
    const { cloudAccountId, previous, next } = await onboardedThenReplaced();
    const ensureUser = env.runs.ensureUser as StepRun<unknown>;
    const store = new Registry(env.runtime.clients.dynamodb(), REGISTRY_TABLE, "Test");
    const rotating: StepRun<unknown> = async (event, runtime) => {
      const output = (await ensureUser(event, runtime)) as { changes: Change[] };
      const change: Change = { type: "AccessKey", user: "redislabs-user", accessKeyId: next };
      await store.recordChange(TARGET, (event as { execution: string }).execution, change);
      return { ...output, changes: [...output.changes, change] };
    };
    const wiring = failingAt(failableState("RetireOldKey"), {
      runs: { ...env.runs, ensureUser: rotating },
      services: env.services,
    });

    // Act
    const result = await env.run({ accountId: TARGET }, wiring);
    await settleRedis(env);

    // Assess
    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("AccessDenied");
    expect(statesEntered(result)).toContain("RollBack");
    expect(env.redis.state.requests.filter((r) => r.method === "PUT")).toHaveLength(1);
    expect(env.redis.state.requests.filter((r) => r.method === "DELETE")).toEqual([]);
    expect(env.redis.state.accounts.get(cloudAccountId)).toMatchObject({
      accessKeyId: next,
      status: "active",
    });
    expect(keysOfUser().sort()).toEqual([previous, next].sort());
    const published = JSON.stringify(env.published);
    expect(published).toContain(`AccessKey redislabs-user ${next}`);
    expect(published).toContain("KeyInUse");
  });
});
