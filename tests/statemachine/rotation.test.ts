import { DescribeSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StepRun } from "../../functions/lib/define-step.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import {
  HOME,
  type LocalEnvironment,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import type { WorkflowResult } from "../../local/workflow.ts";

/*
 * The rotation workflow, whole, against the in-memory AWS and the local Redis Cloud API: after an
 * onboarding, the rotation's outcome and what holds afterwards (IAM's keys, Redis's cloud account,
 * the secret's staging labels, the registry), for a success, a failure at each step, a failing
 * Redis task, and rotations that meet another run of the same account.
 */

const TARGET = "222222222222";
const ROTATE = { accountId: TARGET, rotate: true };
let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const keys = () =>
  (env.aws.account(TARGET).users.get("redislabs-user")?.keys ?? []).map((k) => ({
    id: k.AccessKeyId,
    status: k.Status,
  }));
const redisAccounts = () => [...env.redis.state.accounts.values()];
const registry = () => registryItemOf(env.dynamodb, TARGET);
const secrets = () => env.aws.clients(HOME).secrets();
const entered = (result: WorkflowResult, state: string) =>
  result.events.filter((e) => e.type === "StateEntered" && e.state.name === state).length;

async function onboard(): Promise<string> {
  const result = await env.run({ accountId: TARGET });
  expect(result.status).toBe("SUCCEEDED");
  return registry()?.accessKeyId as string;
}

async function versionWith(stage: string): Promise<string | undefined> {
  const arn = registry()?.secretArn;
  const got = await secrets()
    .send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }))
    .catch(() => undefined);
  return got ? (JSON.parse(got.SecretString ?? "{}") as { accessKeyId?: string }).accessKeyId : undefined;
}

async function stages(): Promise<string[]> {
  const described = await secrets().send(new DescribeSecretCommand({ SecretId: registry()?.secretArn }));
  return Object.values(described.VersionIdsToStages ?? {}).flat();
}

/** What must hold after any rotation, whatever happened. */
function expectInvariant() {
  const used = registry()?.accessKeyId;
  expect(keys()).toContainEqual({ id: used, status: "Active" });
  expect(keys().length).toBeLessThanOrEqual(2);
  expect(redisAccounts()).toHaveLength(1);
}

/** The run's code with `fn` failing for good (after doing its work when `after`), in `action` only. */
function failing(fn: string, options: { after?: boolean; action?: string } = {}) {
  const real = env.runs[fn] as StepRun<unknown>;
  const wrapped: StepRun<unknown> = async (event, runtime) => {
    const action = (event as { action?: string }).action;
    if (options.action !== undefined && action !== options.action) return real(event, runtime);
    if (options.after) await real(event, runtime);
    throw new WorkflowError("AccessDenied", `${fn}: refused for the test`);
  };
  return { runs: { ...env.runs, [fn]: wrapped } };
}

describe("a full rotation", () => {
  it("puts Redis on a new active key, deletes the old one, and moves the staging labels", async () => {
    const oldKey = await onboard();
    const rotated = await env.runWorkflow("rotation", ROTATE);
    expect(rotated.error).toBeUndefined();
    expect(rotated.status).toBe("SUCCEEDED");
    const newKey = registry()?.accessKeyId;
    expect(newKey).not.toBe(oldKey);
    expect(keys()).toEqual([{ id: newKey, status: "Active" }]);
    expect(redisAccounts().map((a) => [a.accessKeyId, a.status])).toEqual([[newKey, "active"]]);
    expect(await versionWith("AWSCURRENT")).toBe(newKey);
    expect(await versionWith("AWSPREVIOUS")).toBe(oldKey);
    expect(await stages()).not.toContain("AWSPENDING");
    expect(registry()?.rotation).toMatchObject({
      outcome: "succeeded",
      previousAccessKeyId: oldKey,
      newAccessKeyId: newKey,
    });
    expect(registry()?.status).toBe("active");
    // Redis was given the new key by one PUT, through the registrar.
    expect(env.redis.state.requests.filter((r) => r.method === "PUT")).toHaveLength(1);
    expect(rotated.output).toMatchObject({ accessKeyId: newKey, previousAccessKeyId: oldKey });
    expect(JSON.stringify(rotated.output)).not.toMatch(/secretAccessKey|consolePassword/);
    expect(env.published.map((e) => JSON.stringify(e))).toContainEqual(
      expect.stringContaining("Redis Cloud Rotation Succeeded"),
    );
    expectInvariant();
  });

  it("rotates again: each rotation leaves one key, the one Redis uses", async () => {
    await onboard();
    for (const name of ["first", "second"]) {
      const result = await env.runWorkflow("rotation", ROTATE, { executionName: name });
      expect(result.status).toBe("SUCCEEDED");
      expect(keys()).toEqual([{ id: registry()?.accessKeyId, status: "Active" }]);
    }
  });
});

describe("a rotation that fails before the switch", () => {
  const cases: [string, string, { after?: boolean }][] = [
    ["BeginRotation", "rotateBegin", {}],
    ["CreatePendingKey, before anything", "rotateCreateKey", {}],
    ["CreatePendingKey, after its key and version", "rotateCreateKey", { after: true }],
    ["VerifyPendingKey", "verifyAccessKey", {}],
  ];
  for (const [label, fn, options] of cases) {
    it(`${label}: the old key stays in use and active, the new key is gone`, async () => {
      const oldKey = await onboard();
      const result = await env.runWorkflow("rotation", ROTATE, failing(fn, options));
      expect(result.status).toBe("FAILED");
      expect(result.error?.Error).toBe("AccessDenied");
      expect(keys()).toEqual([{ id: oldKey, status: "Active" }]);
      expect(redisAccounts()[0]?.accessKeyId).toBe(oldKey);
      expect(registry()?.accessKeyId).toBe(oldKey);
      expect(await versionWith("AWSCURRENT")).toBe(oldKey);
      expect(await stages()).not.toContain("AWSPENDING");
      expect(registry()?.status).toBe("active");
      expectInvariant();
    });
  }

  it("a Redis task that fails: the rotation fails with its name, Redis keeps the old key", async () => {
    const oldKey = await onboard();
    env.redis.state.options.failTasksWith = { type: "CLOUD_ACCOUNT_FORBIDDEN", description: "not today" };
    const result = await env.runWorkflow("rotation", ROTATE);
    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("RedisTaskFailed");
    expect(keys()).toEqual([{ id: oldKey, status: "Active" }]);
    expect(redisAccounts()[0]?.accessKeyId).toBe(oldKey);
    expect(registry()?.rotation).toMatchObject({ outcome: "failed", error: "RedisTaskFailed" });
    expect(await stages()).not.toContain("AWSPENDING");
    expectInvariant();
  });

  it("the console password Redis holds is set back", async () => {
    await onboard();
    const user = () => env.aws.account(TARGET).users.get("redislabs-user");
    const before = user()?.login?.password;
    await env.runWorkflow("rotation", ROTATE, failing("verifyAccessKey"));
    expect(user()?.login?.password).toBe(before);
  });

  it("an account never onboarded: NotOnboarded, nothing made", async () => {
    const result = await env.runWorkflow("rotation", ROTATE);
    expect(result.error?.Error).toBe("NotOnboarded");
    expect(env.aws.account(TARGET).users.get("redislabs-user")).toBeUndefined();
  });

  it("a bad input: InvalidInput naming the field", async () => {
    const result = await env.runWorkflow("rotation", { accountId: TARGET });
    expect(result.error?.Error).toBe("InvalidInput");
    expect(result.error?.Cause).toContain("rotate");
  });
});

describe("a rotation that fails after the switch", () => {
  const cases: [string, string, { after?: boolean; action?: string }][] = [
    ["PromotePendingVersion", "rotatePromote", { after: true }],
    ["DeactivateOldKey", "rotateOldKey", { action: "deactivate" }],
    ["DeleteOldKey", "rotateOldKey", { action: "delete" }],
  ];
  for (const [label, fn, options] of cases) {
    it(`${label}: Redis stays on the new key, which the registry names`, async () => {
      const oldKey = await onboard();
      const result = await env.runWorkflow("rotation", ROTATE, failing(fn, options));
      expect(result.status).toBe("FAILED");
      const newKey = registry()?.accessKeyId;
      expect(newKey).not.toBe(oldKey);
      expect(redisAccounts()[0]?.accessKeyId).toBe(newKey);
      expect(keys().map((k) => k.id)).toContain(oldKey);
      expectInvariant();
    });
  }

  it("Redis turns active-error without the old key: it is made active again, and the event says so", async () => {
    const oldKey = await onboard();
    const real = env.runs.rotateOldKey as StepRun<unknown>;
    const runs = {
      ...env.runs,
      rotateOldKey: (async (event, runtime) => {
        const answer = await real(event, runtime);
        if ((event as { action: string }).action === "deactivate") {
          for (const account of env.redis.state.accounts.values()) account.status = "active-error";
        }
        return answer;
      }) as StepRun<unknown>,
    };
    const result = await env.runWorkflow("rotation", ROTATE, { runs });
    expect(result.error?.Error).toBe("CloudAccountError");
    expect(result.error?.Cause).toContain("active-error");
    expect(keys()).toContainEqual({ id: oldKey, status: "Active" });
    const failed = env.published.map((e) => JSON.stringify(e)).find((e) => e.includes("Rotation Failed"));
    expect(failed).toContain("reactivated");
    expectInvariant();
  });
});

describe("a rotation meets another run of the same account", () => {
  const PAUSE_MS = 20;
  const slowRefusals = (): LocalEnvironment["services"] => {
    const put = env.services["arn:aws:states:::dynamodb:putItem"];
    if (!put) throw new Error("no putItem stand-in");
    return {
      ...env.services,
      "arn:aws:states:::dynamodb:putItem": async (parameters, run) => {
        try {
          return await put(parameters, run);
        } catch (error) {
          await new Promise((resolve) => setTimeout(resolve, 5 * PAUSE_MS));
          throw error;
        }
      },
    };
  };

  it("two rotations started at once: one waits for the other, both succeed, one key is left", async () => {
    await onboard();
    const options = { pauseMs: PAUSE_MS, services: slowRefusals() };
    const [a, b] = await Promise.all([
      env.runWorkflow("rotation", ROTATE, { ...options, executionName: "rotation-a" }),
      env.runWorkflow("rotation", ROTATE, { ...options, executionName: "rotation-b" }),
    ]);
    expect([a?.status, b?.status]).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    expect(
      entered(a as WorkflowResult, "WaitForLock") + entered(b as WorkflowResult, "WaitForLock"),
    ).toBeGreaterThan(0);
    expect(keys()).toEqual([{ id: registry()?.accessKeyId, status: "Active" }]);
    expect(redisAccounts()[0]?.accessKeyId).toBe(registry()?.accessKeyId);
  });

  it("a rotation started during an onboarding of the account waits for it", async () => {
    const options = { pauseMs: PAUSE_MS, services: slowRefusals() };
    // The rotation starts once the onboarding holds the lock (it has entered RecordStart, the state
    // after AcquireAccountLock), however slow the machine.
    let locked: () => void = () => undefined;
    const holding = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const onboarding = env.run(
      { accountId: TARGET },
      {
        ...options,
        executionName: "onboarding-first",
        onEvent: (event) => {
          if (event.type === "StateEntered" && event.state.name === "RecordStart") locked();
        },
      },
    );
    await holding;
    const rotation = await env.runWorkflow("rotation", ROTATE, {
      ...options,
      executionName: "rotation-later",
    });
    const onboarded = await onboarding;
    expect(onboarded.status).toBe("SUCCEEDED");
    expect(rotation.status).toBe("SUCCEEDED");
    expect(entered(rotation, "WaitForLock")).toBeGreaterThan(0);
    expect(keys()).toEqual([{ id: registry()?.accessKeyId, status: "Active" }]);
    expectInvariant();
  });
});
