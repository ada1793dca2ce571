import { afterEach, describe, expect, it } from "vitest";
import {
  type CloudAccountCreateRequest,
  RedisCloud,
  type RedisTask,
} from "../../../functions/lib/redis-cloud.ts";
import {
  type LocalRedisCloud,
  type LocalRedisCloudOptions,
  startLocalRedisCloud,
} from "../../../local/redis-cloud/server.ts";
import { rejectionOf } from "../../support/aws.ts";
import { API_KEYS, CREDENTIALS, leakedSecrets } from "./fixtures.ts";

let api: LocalRedisCloud | undefined;

afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function start(options: LocalRedisCloudOptions = {}) {
  api = await startLocalRedisCloud({ keys: API_KEYS, ...options });
  return { api, redis: new RedisCloud({ baseUrl: api.url, keys: api.keys }) };
}

const create = (accessKeyId: string, name = `aws-${accessKeyId}`): CloudAccountCreateRequest => ({
  name,
  provider: "AWS",
  accessKeyId,
  accessSecretKey: CREDENTIALS.secretAccessKey,
  consoleUsername: CREDENTIALS.consoleUsername,
  consolePassword: CREDENTIALS.consolePassword,
  signInLoginUrl: CREDENTIALS.signInUrl,
});

/** A poll's visible status: the task's, or 404 while the API does not show it yet. */
async function poll(redis: RedisCloud, taskId: string): Promise<string> {
  try {
    return (await redis.getTask(taskId)).status;
  } catch (error) {
    if ((error as Error).name === "RedisCloudNotFound") return "404";
    throw error;
  }
}

/** Polls until the task ends; answers every status seen and the final task. */
async function pollToEnd(redis: RedisCloud, taskId: string, limit = 20) {
  const seen: string[] = [];
  for (let i = 0; i < limit; i++) {
    seen.push(await poll(redis, taskId));
    if (seen.at(-1)?.startsWith("processing-") && seen.at(-1) !== "processing-in-progress") break;
  }
  return { seen, task: (await redis.getTask(taskId)) as RedisTask };
}

describe("local Redis Cloud API", () => {
  it("listens on 127.0.0.1 on an ephemeral port, under /v1", async () => {
    // Act
    const { api } = await start();

    // Assess
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(api.url).not.toContain(":0/");
  });

  it("takes a registration through the full lifecycle: task, then cloud account", async () => {
    // Prepare
    const { redis } = await start({ taskNotFoundPolls: 1, accountPendingPolls: 2 });

    // Act
    const created = await redis.createCloudAccount(create(CREDENTIALS.accessKeyId));
    const { seen, task } = await pollToEnd(redis, created.taskId);
    const id = task.resourceId ?? -1;
    const accountStates = [];
    for (let i = 0; i < 3; i++) accountStates.push((await redis.getCloudAccount(id)).status);
    const listed = await redis.listCloudAccounts();

    // Assess
    expect(created.status).toBe("initialized");
    expect(seen).toEqual(["404", "received", "processing-in-progress", "processing-completed"]);
    expect(accountStates).toEqual(["pending", "pending", "active"]);
    expect(listed).toEqual([
      expect.objectContaining({ id, accessKeyId: CREDENTIALS.accessKeyId, status: "active" }),
    ]);
    expect(task.links[0]?.title).toBe("getTaskStatusUpdates");
  });

  it("processes one task at a time: the others wait in received", async () => {
    // Prepare
    const { redis, api } = await start({ taskNotFoundPolls: 0 });
    const first = await redis.createCloudAccount(create("AKIAFIRST00000000001"));
    const second = await redis.createCloudAccount(create("AKIASECOND0000000002"));

    // Act: only the second task is polled; Redis works through the first meanwhile.
    const statuses: { first: string; second: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const seen = await poll(redis, second.taskId);
      statuses.push({ first: api.state.tasks.get(first.taskId)?.status ?? "", second: seen });
    }

    // Assess
    const inProgress = statuses.filter((s) => s.first === "processing-in-progress");
    expect(inProgress.length).toBeGreaterThan(0);
    expect(inProgress.every((s) => s.second === "received")).toBe(true);
    expect(
      statuses.every((s) => !(s.first === "processing-in-progress" && s.second === "processing-in-progress")),
    ).toBe(true);
    expect(statuses.at(-1)).toEqual({ first: "processing-completed", second: "processing-completed" });
  });

  it("fails the task with CLOUD_ACCOUNT_INVALID_CREDS while the key is young, and accepts it later", async () => {
    // Prepare
    let clock = 0;
    const madeAt = new Map([[CREDENTIALS.accessKeyId, 0]]);
    const { redis } = await start({
      taskNotFoundPolls: 0,
      isKeyPropagated: (key) => clock - (madeAt.get(key) ?? 0) >= 15_000,
    });

    // Act
    const young = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create(CREDENTIALS.accessKeyId))).taskId,
    );
    clock = 20_000;
    const old = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create(CREDENTIALS.accessKeyId))).taskId,
    );

    // Assess
    expect(young.task.status).toBe("processing-error");
    expect(young.task.error).toMatchObject({
      type: "CLOUD_ACCOUNT_INVALID_CREDS",
      status: "400 BAD_REQUEST",
    });
    expect(old.task.status).toBe("processing-completed");
  });

  it("refuses a second cloud account with the same key or the same name", async () => {
    // Prepare
    const { redis } = await start({ taskNotFoundPolls: 0 });
    await pollToEnd(redis, (await redis.createCloudAccount(create("AKIAONE0000000000001", "prod"))).taskId);

    // Act
    const sameKey = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create("AKIAONE0000000000001", "x"))).taskId,
    );
    const sameName = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create("AKIATWO0000000000002", "prod"))).taskId,
    );

    // Assess
    expect(sameKey.task.error?.type).toBe("CLOUD_ACCOUNT_ACCESS_KEY_EXISTS");
    expect(sameName.task.error?.type).toBe("CLOUD_ACCOUNT_NAME_EXISTS");
  });

  it("answers 429 with Retry-After and X-Rate-Limit-Remaining past the rate", async () => {
    // Prepare
    const now = 125_000;
    const { redis } = await start({ rateLimitPerMinute: 3, now: () => now });

    // Act
    const remaining: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      await redis.listCloudAccounts();
      remaining.push(redis.rateLimit.remaining);
    }
    const error = await rejectionOf(redis.listCloudAccounts());

    // Assess
    expect(remaining).toEqual([2, 1, 0]);
    expect(error.name).toBe("RedisCloudUnavailable");
    expect(redis.rateLimit).toEqual({ remaining: 0, retryAfterSeconds: 55 });
  });

  it("counts the rate per minute: a new window lets requests through again", async () => {
    // Prepare
    let now = 0;
    const { redis } = await start({ rateLimitPerMinute: 1, now: () => now });
    await redis.listCloudAccounts();

    // Act
    const refused = await rejectionOf(redis.listCloudAccounts());
    now = 60_000;
    const accounts = await redis.listCloudAccounts();

    // Assess
    expect(refused.message).toContain("429");
    expect(accounts).toEqual([]);
  });

  it("refuses wrong keys with 401", async () => {
    // Prepare
    const { api } = await start();
    const stranger = new RedisCloud({
      baseUrl: api.url,
      keys: { accountKey: API_KEYS.accountKey, userKey: "wrong" },
    });

    // Act
    const error = await rejectionOf(stranger.listCloudAccounts());

    // Assess
    expect(error.name).toBe("RedisCloudUnauthorized");
    expect(api.state.requests.at(-1)?.status).toBe(401);
  });

  it.each([
    ["a missing field", { name: "x", accessKeyId: "AKIA1" }, "Missing required fields: accessSecretKey"],
    ["another provider", { ...create("AKIA1"), provider: "GCP" }, "Only provider AWS"],
  ])("refuses a body with %s with 400", async (_case, body, description) => {
    // Prepare
    const { api } = await start();

    // Act
    const response = await fetch(`${api.url}/cloud-accounts`, {
      method: "POST",
      headers: {
        "x-api-key": api.keys.accountKey,
        "x-api-secret-key": api.keys.userKey,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });

    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      type: "BAD_REQUEST",
      description: expect.stringContaining(description),
    });
  });

  it("fails tasks or cloud accounts for good when told to", async () => {
    // Prepare
    const { redis, api } = await start({ taskNotFoundPolls: 0, accountPendingPolls: 0 });
    api.state.options.failTasksWith = { type: "CLOUD_ACCOUNT_PERMISSION_FAILED" };
    const failed = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create("AKIAFAIL000000000001"))).taskId,
    );
    api.state.options.failTasksWith = undefined;
    api.state.options.failAccounts = true;

    // Act
    const made = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create("AKIAMADE000000000001"))).taskId,
    );
    const account = await redis.getCloudAccount(made.task.resourceId ?? -1);

    // Assess
    expect(failed.task.error?.type).toBe("CLOUD_ACCOUNT_PERMISSION_FAILED");
    expect(account.status).toBe("active-error");
  });

  it("deletes a cloud account through a task", async () => {
    // Prepare
    const { redis } = await start({ taskNotFoundPolls: 0 });
    const made = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create(CREDENTIALS.accessKeyId))).taskId,
    );
    const id = made.task.resourceId ?? -1;

    // Act
    const deletion = await redis.deleteCloudAccount(id);
    await pollToEnd(redis, deletion.taskId);
    const error = await rejectionOf(redis.getCloudAccount(id));

    // Assess
    expect(deletion.commandType).toBe("cloudAccountDeleteRequest");
    expect(error.name).toBe("RedisCloudNotFound");
  });

  it("gives a cloud account a new key through an update task, leaving it active", async () => {
    // Prepare
    const { redis, api } = await start({ taskNotFoundPolls: 0, accountPendingPolls: 0 });
    const made = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create("AKIAOLD0000000000001"))).taskId,
    );
    const id = made.task.resourceId ?? -1;
    await redis.getCloudAccount(id);
    const update = { ...create("AKIANEW0000000000002"), name: undefined, provider: undefined };

    // Act
    const task = await redis.updateCloudAccount(id, update);
    const keyWhileQueued = (await redis.getCloudAccount(id)).accessKeyId;
    const { task: done } = await pollToEnd(redis, task.taskId);
    const after = await redis.getCloudAccount(id);

    // Assess
    expect(task.commandType).toBe("cloudAccountUpdateRequest");
    expect(keyWhileQueued).toBe("AKIAOLD0000000000001");
    expect(done).toMatchObject({ status: "processing-completed", resourceId: id });
    expect(after).toMatchObject({ id, accessKeyId: "AKIANEW0000000000002", status: "active" });
    expect(after.name).toBe("aws-AKIAOLD0000000000001");
    expect(api.state.accounts.size).toBe(1);
    expect(leakedSecrets(JSON.stringify(api.state))).toEqual([]);
  });

  it("refuses an update without its required fields (400, naming them) or of an unknown account (404)", async () => {
    // Prepare
    const { api } = await start();
    const headers = { "x-api-key": API_KEYS.accountKey, "x-api-secret-key": API_KEYS.userKey };
    const put = (id: number, body: object) =>
      fetch(`${api.url}/cloud-accounts/${id}`, {
        method: "PUT",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    // Act
    const missing = await put(1001, { accessKeyId: "AKIANEW0000000000002", name: "x" });
    const unknown = await put(4242, {
      accessKeyId: "AKIANEW0000000000002",
      accessSecretKey: "s",
      consoleUsername: "u",
      consolePassword: "p",
    });

    // Assess
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { description: string }).description).toBe(
      "Missing required fields: accessSecretKey, consoleUsername, consolePassword",
    );
    expect(unknown.status).toBe(404);
    expect(api.state.tasks.size).toBe(0);
  });

  it("queues an update behind the task before it, one task at a time", async () => {
    // Prepare
    const { redis, api } = await start({ taskNotFoundPolls: 0, accountPendingPolls: 0 });
    const made = await pollToEnd(
      redis,
      (await redis.createCloudAccount(create("AKIAOLD0000000000001"))).taskId,
    );
    const id = made.task.resourceId ?? -1;
    const second = await redis.createCloudAccount(create("AKIASECOND0000000002"));

    // Act
    const update = await redis.updateCloudAccount(id, create("AKIANEW0000000000002"));
    const whileFirstRuns: string[] = [];
    for (let i = 0; i < 3; i++) {
      await poll(redis, second.taskId);
      whileFirstRuns.push(api.state.tasks.get(update.taskId)?.status ?? "");
    }
    const { task: done } = await pollToEnd(redis, update.taskId);

    // Assess
    expect(whileFirstRuns.every((status) => status === "initialized" || status === "received")).toBe(true);
    expect(api.state.tasks.get(second.taskId)?.status).toBe("processing-completed");
    expect(done.status).toBe("processing-completed");
  });

  it("lists every task as a poll of each shows it, without working any", async () => {
    // Prepare
    const { redis, api } = await start({ taskNotFoundPolls: 0 });
    const created = await redis.createCloudAccount(create("AKIAFIRST00000000001"));
    await poll(redis, created.taskId);
    const before = api.state.tasks.get(created.taskId)?.status;

    // Act
    const listed = await redis.listTasks();
    const single = await redis.getTask(created.taskId);

    // Assess
    expect(listed.map((t) => [t.taskId, t.commandType, t.status])).toEqual([
      [created.taskId, "cloudAccountCreateRequest", before],
    ]);
    expect(listed[0]?.timestamp).toBe(single.timestamp);
    expect(before).toBe("received");
  });

  it("serves the task listing under the rate limit and injected faults too", async () => {
    // Prepare
    const { redis, api } = await start({ rateLimitPerMinute: 1, now: () => 0 });
    await redis.listTasks();

    // Act
    const limited = await rejectionOf(redis.listTasks());
    api.state.options.rateLimitPerMinute = 400;
    api.state.options.fault = (request) => (request.path === "/v1/tasks" ? { status: 503 } : undefined);
    const faulted = await rejectionOf(redis.listTasks());

    // Assess
    expect(limited).toMatchObject({ name: "RedisCloudUnavailable", status: 429 });
    expect(faulted).toMatchObject({ name: "RedisCloudUnavailable", status: 503 });
  });

  it("records every request without the key values or the body's secrets", async () => {
    // Prepare
    const { redis, api } = await start({ taskNotFoundPolls: 0 });

    // Act
    const created = await redis.createCloudAccount(create(CREDENTIALS.accessKeyId));
    await pollToEnd(redis, created.taskId);
    const log = JSON.stringify(api.state.requests);

    // Assess
    expect(api.state.requests[0]).toMatchObject({
      method: "POST",
      path: "/v1/cloud-accounts",
      status: 202,
      headers: { "x-api-key": "<redacted>", "x-api-secret-key": "<redacted>" },
      body: {
        accessKeyId: CREDENTIALS.accessKeyId,
        accessSecretKey: "<redacted>",
        consolePassword: "<redacted>",
      },
    });
    expect(api.state.requests.length).toBeGreaterThan(3);
    expect(leakedSecrets(log)).toEqual([]);
  });
});
