import { afterEach, describe, expect, it } from "vitest";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { awsError } from "../../local/aws/index.ts";
import { HOME, type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import type { WorkflowResult } from "../../local/workflow.ts";
import { redisRefuses, TARGET } from "./support.ts";

/*
 * Many onboardings at once: of one account (they must not make a second key or a second cloud
 * account), and of many accounts under throttling (each must end onboarded exactly once).
 */

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** What the credentials secret of `accountId` holds now. */
function storedCredentials(e: LocalEnvironment, accountId: string): Record<string, unknown> {
  const secret = e.aws.account(HOME.accountId).secrets.get(`redis-cloud/byoc/${accountId}`);
  return JSON.parse(secret?.versions.at(-1)?.SecretString ?? "{}") as Record<string, unknown>;
}

const statusCounts = (results: WorkflowResult[]) =>
  results.reduce<Record<string, number>>((counts, r) => {
    const key = r.status === "SUCCEEDED" ? r.status : `FAILED ${r.error?.Error}`;
    counts[key] = (counts[key] ?? 0) + 1;
    return counts;
  }, {});

const PAUSE_MS = 20;

/**
 * `pauseMs` makes every Retry interval and every Wait the same few milliseconds, which flattens
 * the definition's ratio between them: the lock's wait loop pauses 10 s growing to 60 s (full
 * jitter, so 5-30 s on average) while a run's own Wait is 5 s. Flattened, a run waiting for the
 * lock spends its 200 pauses while each run ahead of it takes a pause plus its own work, so a long
 * enough queue always outlasts them; and without the jitter, the waiters try again in lockstep.
 * Both are put back by holding a refused put for 0 to 16 pauses (8 on average, full jitter) before
 * it reports the refusal: the table and the definition are unchanged, only the waiting is scaled
 * as in AWS (a re-run reads every resource twice, once before its first write, hence 16, not 8).
 */
function lockWaits(e: LocalEnvironment): LocalEnvironment["services"] {
  const put = e.services[PUT_ITEM];
  if (!put) throw new Error(`no ${PUT_ITEM} stand-in: the per-account lock is not in the workflow`);
  return {
    ...e.services,
    [PUT_ITEM]: async (parameters) => {
      try {
        return await put(parameters);
      } catch (error) {
        if ((error as Error).name === "DynamoDB.ConditionalCheckFailedException")
          await sleep(Math.random() * 16 * PAUSE_MS);
        throw error;
      }
    },
  };
}

const PUT_ITEM = "arn:aws:states:::dynamodb:putItem";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("200 onboardings of one account started at once", () => {
  it("all succeed, with one access key, held by the secret, and one cloud account", async () => {
    forgetRedisApiKeys();
    const e = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
    env = e;
    e.redis.state.options.rateLimitPerMinute = Number.MAX_SAFE_INTEGER;
    const started = Date.now();

    // A small pause, so that the runs waiting for the account do not spin.
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        e.run(
          { accountId: TARGET },
          { executionName: `same-account-${i}`, pauseMs: PAUSE_MS, services: lockWaits(e) },
        ),
      ),
    );

    console.log(
      `200 runs of one account: ${Date.now() - started} ms; ${JSON.stringify(statusCounts(results))}`,
    );
    expect(statusCounts(results)).toEqual({ SUCCEEDED: 200 });
    const keys = e.aws
      .account(TARGET)
      .users.get("redislabs-user")
      ?.keys.map((k) => k.AccessKeyId);
    expect(keys).toHaveLength(1);
    expect(storedCredentials(e, TARGET).accessKeyId).toBe(keys?.[0]);
    const accounts = [...e.redis.state.accounts.values()];
    expect(accounts.map((a) => a.accessKeyId)).toEqual(keys);
    // Not even a key made and deleted again, nor a registration Redis refused: one of each, ever.
    expect(e.aws.calls.filter((c) => c.command === "CreateAccessKey" && !c.error)).toHaveLength(1);
    expect(e.redis.state.requests.filter((r) => r.method === "POST")).toHaveLength(1);
    // Every run reports that one cloud account.
    const ids = new Set(results.map((r) => (r.output as { cloudAccountId?: number }).cloudAccountId));
    expect([...ids]).toEqual([accounts[0]?.id]);
  }, 120_000);
});

/*
 * The registrar works registrations as Redis does, one task after another, and the local API's
 * tasks move only when looked at: a quick run's cost grows with the fleet, not its concurrency.
 * 100 accounts started at once are as concurrent as 1,000 for everything before Redis (locks,
 * keys, secrets, the registry) and queue at the registrar the same way; 1,000 accounts, with
 * Redis's limits and time, are the virtual-clock fleet's (bench/fleet.ts, tests/proofs/registrar.test.ts).
 */
const FLEET = 100;

describe(`${FLEET} accounts onboarded at once, with AWS throttling and Redis 429s`, () => {
  it("onboards every account exactly once: one key each, one cloud account per key", async () => {
    const accounts = Array.from({ length: FLEET }, (_, i) => String(300_000_000_000 + i));
    forgetRedisApiKeys();
    const e = await startLocalEnvironment({ targets: accounts, aws: { keyPropagationMs: 0 } });
    env = e;
    let throttled = 0;
    // 1% of all AWS calls. The fake refuses a call before the SDK's own retries (3 attempts in
    // AWS) could absorb it, so every refusal reaches the step, which retries whole: at 5% a step
    // of 11 calls fails 43% of its attempts and 7 attempts in a row about one run in 400.
    e.aws.fail(
      () => Math.random() < 0.01,
      () => {
        throttled += 1;
        return awsError("iam", "Throttling", "Rate exceeded");
      },
    );
    // The minute's limit itself is not what is tested (1,000 onboardings make ~9,000 requests);
    // about one request in 20 is refused with a 429 through it.
    e.redis.state.options.rateLimitPerMinute = Number.MAX_SAFE_INTEGER;
    const limited = redisRefuses(e, () => Math.random() < 0.05);
    const started = Date.now();

    const results = await Promise.all(
      accounts.map((accountId) => e.run({ accountId }, { executionName: `many-${accountId}` })),
    );

    const ms = Date.now() - started;
    console.log(
      `${FLEET} accounts: ${ms} ms; ${throttled} AWS calls throttled, ${limited.refused()} Redis requests refused (429); ${JSON.stringify(statusCounts(results))}`,
    );
    expect(throttled).toBeGreaterThan(5);
    expect(limited.refused()).toBeGreaterThan(5);
    expect(statusCounts(results)).toEqual({ SUCCEEDED: FLEET });
    const keyOf = new Map<string, string>();
    for (const accountId of accounts) {
      const keys = e.aws.account(accountId).users.get("redislabs-user")?.keys ?? [];
      expect(keys, accountId).toHaveLength(1);
      const key = keys[0]?.AccessKeyId ?? "";
      expect(storedCredentials(e, accountId).accessKeyId, accountId).toBe(key);
      keyOf.set(key, accountId);
    }
    const registered = [...e.redis.state.accounts.values()];
    expect(registered).toHaveLength(FLEET);
    // Redis accepted a registration for every account. The registrar sends them all, one governed
    // path to Redis; under load a POST can still be sent twice (its first answer lost to the
    // client's timeout): the second task is refused at Redis and makes no cloud account, as the
    // counts above and below show.
    const accepted = e.redis.state.requests.filter((r) => r.method === "POST" && r.status === 202).length;
    expect(accepted).toBeGreaterThanOrEqual(FLEET);
    if (accepted > FLEET)
      console.log(`${FLEET} accounts: ${accepted - FLEET} POSTs sent twice, refused at Redis`);
    // One registration per access key, and every key is one of the users' keys.
    expect(new Set(registered.map((a) => a.accessKeyId)).size).toBe(FLEET);
    for (const a of registered) expect(keyOf.get(a.accessKeyId), a.name).toBe(a.name.replace(/^aws-/, ""));
  }, 300_000);
});
