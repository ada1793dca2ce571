import { describe, expect, it } from "vitest";
import type { LocalEnvironment } from "../../local/environment.ts";
import { FLEET_BUDGET_PER_MINUTE, type FleetOptions, runFleet } from "../../local/fleet.ts";
import { busiestMinute, type LocalRedisCloudOptions } from "../../local/redis-cloud/server.ts";
import { WAIT_FOR_TOKEN } from "../../local/registrar.ts";

/*
 * The registrar under fleet load and Redis's failures, on a virtual clock: the real definition
 * and step code with every wait and pause as written, the registrar's deployed budget, and a local
 * Redis Cloud API that enforces Redis's limits (400 requests per sliding minute, one task at a
 * time, each taking its time, 404 while fresh). Hours take a second or two.
 */

const TASK_SECONDS = 30;
const BUDGET = FLEET_BUDGET_PER_MINUTE;

const fleet = (
  accounts: number,
  redis: Partial<LocalRedisCloudOptions> = {},
  arrange: FleetOptions["arrange"] = () => ({}),
) => runFleet(accounts, { taskSeconds: TASK_SECONDS, redis, arrange, firstAccount: 500_000_000_000 });

const cloudAccountsByName = (env: LocalEnvironment) => {
  const names = new Map<string, number>();
  for (const a of env.redis.state.accounts.values()) names.set(a.name, (names.get(a.name) ?? 0) + 1);
  return names;
};

describe("a fleet vended at once", () => {
  it("is onboarded entirely, within Redis's limits, in about the time Redis needs to work its tasks back to back", async () => {
    const N = 40;
    const { env, results, elapsedMs } = await fleet(N);

    expect(results.map((r) => r.status)).toEqual(Array(N).fill("SUCCEEDED"));
    const requests = env.redis.state.requests;
    expect(requests.filter((r) => r.status === 429)).toEqual([]);
    expect(busiestMinute(requests)).toBeLessThanOrEqual(BUDGET);
    expect(elapsedMs / 1000).toBeLessThanOrEqual(1.05 * N * TASK_SECONDS);
    expect(requests.length / N).toBeLessThanOrEqual(4);
    const transitions = results.flatMap((r) => r.events).filter((e) => e.type === "StateEntered").length;
    expect(transitions / N).toBeLessThanOrEqual(30);
    expect(env.registrar.waiting).toBe(0);
  });

  it("onboards one account, with 10 s of key propagation and a 30 s task, in 45 s or less", async () => {
    const { results, elapsedMs } = await fleet(1);

    expect(results[0]?.status).toBe("SUCCEEDED");
    expect(elapsedMs).toBeLessThanOrEqual(45_000);
    expect(elapsedMs).toBeGreaterThanOrEqual(40_000);
  });

  it("ends 100 % onboarded through Redis's 503s, connection resets and lost answers, with no second cloud account", async () => {
    let n = 0;
    const fault: LocalRedisCloudOptions["fault"] = () => {
      n += 1;
      if (n % 7 === 0) return { status: 503 };
      if (n % 11 === 0) return "reset";
      return n % 13 === 0 ? "lost" : undefined;
    };

    const { env, results } = await fleet(30, { fault });

    expect(results.map((r) => r.status)).toEqual(Array(30).fill("SUCCEEDED"));
    expect(env.redis.state.requests.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    expect(env.redis.state.accounts.size).toBe(30);
    expect([...cloudAccountsByName(env).values()].every((count) => count === 1)).toBe(true);
  });
});

describe("a registration that cannot end well", () => {
  it("fails as RedisTaskNotFound about two minutes after its POST when Redis never knew the task", async () => {
    let posted: number | undefined;
    let env: LocalEnvironment | undefined;
    const { results } = await fleet(
      1,
      {
        fault: (request) => {
          // Redis acknowledged the POST, then lost the task: every later look finds nothing.
          if (posted !== undefined && env) {
            env.redis.state.tasks.clear();
            env.redis.state.queue.length = 0;
          }
          if (request.method === "POST") posted = request.at;
          return undefined;
        },
      },
      (e) => {
        env = e;
        return {};
      },
    );

    expect(results[0]?.status).toBe("FAILED");
    expect(results[0]?.error?.Error).toBe("RedisTaskNotFound");
    expect(results[0]?.error?.Cause).toMatch(/still not found 120 s after its request/);
    const lastTaskLook = env?.redis.state.requests.filter((r) => r.path.startsWith("/v1/tasks")).at(-1);
    const sincePost = (lastTaskLook?.at ?? 0) - (posted ?? 0);
    expect(sincePost).toBeGreaterThanOrEqual(120_000);
    expect(sincePost).toBeLessThan(150_000);
    expect(env?.published.map((event) => JSON.stringify(event))).toEqual([
      expect.stringContaining("Redis Cloud Onboarding Failed"),
    ]);
  });

  it("rolls back a run whose wait timed out while its task was fresh, deleting the cloud account once the task has made it", async () => {
    let timedOut = false;
    const { env, results } = await fleet(1, {}, (env) => {
      const stand = env.services[WAIT_FOR_TOKEN];
      if (!stand) throw new Error("no stand-in for the registrar's wait");
      return {
        services: {
          ...env.services,
          [WAIT_FOR_TOKEN]: async (parameters, run) => {
            const kind = (parameters as { Payload?: { kind?: string } }).Payload?.kind;
            if (kind !== "register" || timedOut) return stand(parameters, run);
            // The hand-over happens, then the wait ends as a timeout would, right after the POST.
            void stand(parameters, run).catch(() => undefined);
            while (!env.redis.state.requests.some((r) => r.method === "POST")) {
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
            timedOut = true;
            const error = new Error("RegisterCloudAccount: the registrar's answer did not come in time");
            error.name = "States.Timeout";
            throw error;
          },
        },
      };
    });

    const run = results[0];
    expect(run?.status).toBe("FAILED");
    expect(run?.error?.Error).toBe("States.Timeout");
    // The task was still 404 when the rollback began; the withdrawal waited for it, then deleted.
    const requests = env.redis.state.requests.map((r) => `${r.method} ${r.path}`);
    expect(requests).toContain("DELETE /v1/cloud-accounts/1001");
    const deletes = [...env.redis.state.tasks.values()].filter(
      (t) => t.commandType === "cloudAccountDeleteRequest",
    );
    expect(deletes.map((t) => t.cloudAccountId)).toEqual([1001]);
    const create = [...env.redis.state.tasks.values()].find(
      (t) => t.commandType === "cloudAccountCreateRequest",
    );
    const deleted = env.redis.state.requests.find((r) => r.method === "DELETE");
    expect(create?.endedAt).toBeDefined();
    expect(deleted?.at).toBeGreaterThanOrEqual(create?.endedAt ?? Number.POSITIVE_INFINITY);
    const failure = JSON.stringify(env.published.at(-1));
    expect(failure).toContain("Redis Cloud Onboarding Failed");
    expect(failure).toContain("CloudAccount 1001");
  });
});
