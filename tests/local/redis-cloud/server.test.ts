import { afterEach, describe, expect, it } from "vitest";
import {
  type CloudAccountCreateRequest,
  RedisCloud,
  type RedisTask,
} from "../../../functions/lib/redis-cloud.ts";
import {
  busiestMinute,
  createLocalRedisCloud,
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
    let now = 125_000;
    const { redis } = await start({ rateLimitPerMinute: 3, now: () => now });

    // Act
    const remaining: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      await redis.listCloudAccounts();
      remaining.push(redis.rateLimit.remaining);
      now += 5_000;
    }
    const error = await rejectionOf(redis.listCloudAccounts());

    // Assess: the oldest request (at 125 s) leaves the window at 185 s, 45 s after this one.
    expect(remaining).toEqual([2, 1, 0]);
    expect(error.name).toBe("RedisCloudUnavailable");
    expect(redis.rateLimit).toEqual({ remaining: 0, retryAfterSeconds: 45 });
  });

  it("lets a request through again once the oldest counted one is 60 s old", async () => {
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

/** The same API in process: a Redis Cloud client over its fetch, and raw requests for the headers. */
function inProcess(options: LocalRedisCloudOptions = {}) {
  api = createLocalRedisCloud({ keys: API_KEYS, ...options });
  const local = api;
  const headers = { "x-api-key": API_KEYS.accountKey, "x-api-secret-key": API_KEYS.userKey };
  const call = (method: string, path: string, body?: object) =>
    local.fetch(`${local.url}${path}`, {
      method,
      headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  return {
    api: local,
    redis: new RedisCloud({ baseUrl: local.url, keys: local.keys, fetch: local.fetch }),
    call,
  };
}

describe("the rate limit, over a sliding minute", () => {
  it("accepts 400 requests in 60 s, refuses the 401st until the oldest has left the window", async () => {
    // Prepare: 400 requests 100 ms apart, from 0 to 39.9 s.
    let now = 0;
    const { api, call } = inProcess({ now: () => now });
    const remaining: string[] = [];
    for (let i = 0; i < 400; i++) {
      now = i * 100;
      remaining.push((await call("GET", "/cloud-accounts")).headers.get("x-rate-limit-remaining") ?? "");
    }

    // Act
    const answerAt = async (at: number) => {
      now = at;
      const response = await call("GET", "/cloud-accounts");
      return [
        response.status,
        response.headers.get("retry-after"),
        response.headers.get("x-rate-limit-remaining"),
      ];
    };
    const at40s = await answerAt(40_000);
    const justBefore = await answerAt(59_999);
    const whenTheFirstLeaves = await answerAt(60_000);
    const rightAfter = await answerAt(60_000);
    const whenTheSecondLeaves = await answerAt(60_100);

    // Assess
    expect(remaining.slice(0, 2)).toEqual(["399", "398"]);
    expect(remaining.at(-1)).toBe("0");
    expect(at40s).toEqual([429, "20", "0"]);
    expect(justBefore).toEqual([429, "1", "0"]);
    expect(whenTheFirstLeaves).toEqual([200, null, "0"]);
    expect(rightAfter).toEqual([429, "1", "0"]);
    expect(whenTheSecondLeaves).toEqual([200, null, "0"]);
    expect(busiestMinute(api.state.requests, (r) => r.status !== 429)).toBe(400);
    expect(busiestMinute(api.state.requests)).toBe(403);
    expect(api.state.requests.map((r) => r.at).slice(-5)).toEqual([40_000, 59_999, 60_000, 60_000, 60_100]);
  });

  it("counts only accepted requests: a client that keeps asking while refused is not locked out", async () => {
    // Prepare
    let now = 0;
    const { call } = inProcess({ rateLimitPerMinute: 2, now: () => now });
    await call("GET", "/tasks");
    now = 10_000;
    await call("GET", "/tasks");

    // Act: refused every second until the first request is 60 s old.
    const statuses: number[] = [];
    for (now = 11_000; now <= 60_000; now += 1_000) statuses.push((await call("GET", "/tasks")).status);

    // Assess
    expect(statuses.slice(0, -1).every((status) => status === 429)).toBe(true);
    expect(statuses.at(-1)).toBe(200);
  });
});

describe("clock mode: Redis works one task at a time, each for taskSeconds", () => {
  /** The API in clock mode on a clock the test sets (`at(ms)`: that long after the start). */
  function clockApi(options: LocalRedisCloudOptions = {}) {
    const clock = { now: 1_000_000 };
    const local = inProcess({ taskSeconds: 30, now: () => clock.now, ...options });
    const at = (ms: number) => {
      clock.now = 1_000_000 + ms;
    };
    return { ...local, at, statusOf: (taskId: string) => poll(local.redis, taskId) };
  }

  it("starts the second task only when the first has ended, each 30 s after it started", async () => {
    // Prepare
    const { redis, at, statusOf, api } = clockApi();
    at(0);
    const first = await redis.createCloudAccount(create("AKIAFIRST00000000001"));
    at(1_000);
    const second = await redis.createCloudAccount(create("AKIASECOND0000000002"));

    // Act
    const seen: Record<string, [string, string]> = {};
    for (const ms of [2_000, 3_000, 4_000, 29_999, 30_000, 59_999, 60_000]) {
      at(ms);
      seen[ms] = [await statusOf(first.taskId), await statusOf(second.taskId)];
    }

    // Assess
    expect(seen).toEqual({
      2000: ["404", "404"],
      3000: ["processing-in-progress", "404"],
      4000: ["processing-in-progress", "received"],
      29999: ["processing-in-progress", "received"],
      30000: ["processing-completed", "processing-in-progress"],
      59999: ["processing-completed", "processing-in-progress"],
      60000: ["processing-completed", "processing-completed"],
    });
    const times = (id: string) => {
      const task = api.state.tasks.get(id);
      return [task?.createdAt, task?.startedAt, task?.endedAt].map((t) => (t ?? Number.NaN) - 1_000_000);
    };
    expect(times(first.taskId)).toEqual([0, 0, 30_000]);
    expect(times(second.taskId)).toEqual([1_000, 30_000, 60_000]);
    expect(api.state.queue).toEqual([]);
  });

  it("works the queue on the clock whoever asks: a listing sees a task done that nobody polled", async () => {
    // Prepare
    const { redis, at, api } = clockApi();
    at(0);
    const created = await redis.createCloudAccount(create("AKIAFIRST00000000001"));

    // Act
    at(45_000);
    const listed = await redis.listTasks();

    // Assess
    expect(listed).toEqual([
      expect.objectContaining({ taskId: created.taskId, status: "processing-completed", resourceId: 1001 }),
    ]);
    expect(api.state.accounts.get(1001)?.status).toBe("active");
  });

  it("starts a task made when Redis is idle at once, and keeps a new account pending for its seconds", async () => {
    // Prepare
    const { redis, at, api } = clockApi({ accountPendingSeconds: 5 });
    at(0);
    await redis.createCloudAccount(create("AKIAFIRST00000000001"));
    at(500_000);
    const late = await redis.createCloudAccount(create("AKIASECOND0000000002"));

    // Act
    at(529_999);
    api.refresh();
    const before = api.state.tasks.get(late.taskId)?.status;
    at(530_000);
    const done = await redis.getTask(late.taskId);
    at(534_999);
    const pending = await redis.getCloudAccount(done.resourceId ?? -1);
    at(535_000);
    const active = await redis.getCloudAccount(done.resourceId ?? -1);

    // Assess
    expect(before).toBe("processing-in-progress");
    expect(done.status).toBe("processing-completed");
    expect([pending.status, active.status]).toEqual(["pending", "active"]);
  });

  it("takes each kind of task its own time, with the same outcomes as in poll mode", async () => {
    // Prepare
    const { redis, at, api } = clockApi({
      taskSeconds: { create: 30, update: 20, delete: 10 },
      freshSeconds: 0,
    });
    at(0);
    const made = await redis.createCloudAccount(create("AKIAONE0000000000001", "prod"));
    const clash = await redis.createCloudAccount(create("AKIATWO0000000000002", "prod"));
    at(60_000);
    const id = (await redis.getTask(made.taskId)).resourceId ?? -1;

    // Act
    const update = await redis.updateCloudAccount(id, create("AKIANEW0000000000003"));
    const deletion = await redis.deleteCloudAccount(id);
    at(89_999);
    const deletionBefore = await poll(redis, deletion.taskId);
    at(90_000);
    const deletionAfter = await poll(redis, deletion.taskId);

    // Assess
    expect(api.state.tasks.get(clash.taskId)).toMatchObject({
      startedAt: 1_030_000,
      endedAt: 1_060_000,
      status: "processing-error",
      error: { type: "CLOUD_ACCOUNT_NAME_EXISTS" },
    });
    expect(api.state.tasks.get(update.taskId)).toMatchObject({
      startedAt: 1_060_000,
      endedAt: 1_080_000,
      status: "processing-completed",
    });
    expect([deletionBefore, deletionAfter]).toEqual(["processing-in-progress", "processing-completed"]);
    expect(api.state.accounts.size).toBe(0);
  });
});

describe("the API in process", () => {
  /** Status, JSON body (task ids made alike) and the API's own headers of each answer. */
  async function transcript(fetchOf: (path: string, init?: RequestInit) => Promise<Response>) {
    const headers = { "x-api-key": API_KEYS.accountKey, "x-api-secret-key": API_KEYS.userKey };
    const answers: unknown[] = [];
    const ids: string[] = [];
    const record = async (response: Response) => {
      const text = await response.text();
      const body = text === "" ? undefined : JSON.parse(text);
      const taskId = (body as { taskId?: string } | undefined)?.taskId;
      if (taskId && !ids.includes(taskId)) ids.push(taskId);
      const named = ids.reduce((t, id, i) => t.replaceAll(id, `task-${i}`), text);
      answers.push({
        status: response.status,
        body: named === "" ? undefined : JSON.parse(named),
        headers: ["content-type", "x-rate-limit-remaining", "retry-after"].map((h) =>
          response.headers.get(h),
        ),
      });
      return body as { taskId?: string; response?: { resourceId?: number } } | undefined;
    };
    const json = { ...headers, "content-type": "application/json" };
    const created = await record(
      await fetchOf("/cloud-accounts", {
        method: "POST",
        headers: json,
        body: JSON.stringify(create(CREDENTIALS.accessKeyId)),
      }),
    );
    let last: Awaited<ReturnType<typeof record>>;
    for (let i = 0; i < 4; i++) last = await record(await fetchOf(`/tasks/${created?.taskId}`, { headers }));
    await record(await fetchOf(`/cloud-accounts/${last?.response?.resourceId}`, { headers }));
    await record(await fetchOf("/cloud-accounts", { method: "POST", headers: json, body: "{}" }));
    await record(await fetchOf("/tasks", { headers: { ...headers, "x-api-secret-key": "wrong" } }));
    await record(await fetchOf("/tasks", { headers }));
    await record(await fetchOf("/tasks", { headers }));
    return answers;
  }

  it("answers exactly as the socket server does, headers included", async () => {
    // Prepare
    const options = { rateLimitPerMinute: 8, now: () => 1_700_000_000_000 };
    const socket = await startLocalRedisCloud({ keys: API_KEYS, ...options });
    const local = createLocalRedisCloud({ keys: API_KEYS, ...options });

    // Act
    try {
      const overSocket = await transcript((path, init) => fetch(`${socket.url}${path}`, init));
      const inProcess = await transcript((path, init) => local.fetch(`${local.url}${path}`, init));

      // Assess
      expect(inProcess).toEqual(overSocket);
      expect(overSocket.map((a) => (a as { status: number }).status)).toEqual([
        202, 404, 200, 200, 200, 200, 400, 401, 200, 429,
      ]);
      expect(overSocket.at(-1)).toMatchObject({ headers: ["application/json", "0", "60"] });
      expect(local.state.requests.map((r) => r.status)).toEqual(socket.state.requests.map((r) => r.status));
    } finally {
      await socket.close();
    }
  });

  it("serves the Redis Cloud client through a whole lifecycle without a socket", async () => {
    // Prepare
    const { redis, api } = inProcess({ taskNotFoundPolls: 1, accountPendingPolls: 0 });

    // Act
    const created = await redis.createCloudAccount(create(CREDENTIALS.accessKeyId));
    const { seen, task } = await pollToEnd(redis, created.taskId);
    const account = await redis.getCloudAccount(task.resourceId ?? -1);

    // Assess
    expect(api.url).toBe("http://redis-cloud.invalid/v1");
    expect(seen).toEqual(["404", "received", "processing-in-progress", "processing-completed"]);
    expect(account.status).toBe("active");
    expect(leakedSecrets(JSON.stringify(api.state))).toEqual([]);
  });

  it("injects the same faults: a reset changes nothing, a lost request is carried out, a status is answered", async () => {
    // Prepare
    const { redis, api } = inProcess({ taskNotFoundPolls: 0 });
    let fault: "reset" | "lost" | { status: number } = "reset";
    api.state.options.fault = (request) => (request.method === "POST" ? fault : undefined);

    // Act
    const reset = await rejectionOf(redis.createCloudAccount(create("AKIARESET00000000001")));
    const tasksAfterReset = api.state.tasks.size;
    fault = "lost";
    const lost = await rejectionOf(redis.createCloudAccount(create("AKIALOST000000000001")));
    const tasksAfterLost = api.state.tasks.size;
    fault = { status: 503 };
    const unavailable = await rejectionOf(redis.createCloudAccount(create("AKIA503000000000001")));

    // Assess
    expect(reset).toMatchObject({ name: "RedisCloudUnavailable" });
    // The cause undici gives a connection the server dropped.
    expect(reset.message).toContain("no answer (UND_ERR_SOCKET)");
    expect(tasksAfterReset).toBe(0);
    expect(lost.message).toContain("no answer");
    expect(tasksAfterLost).toBe(1);
    expect(unavailable).toMatchObject({ name: "RedisCloudUnavailable", status: 503 });
    expect(api.state.requests.map((r) => r.status)).toEqual([0, 202, 503]);
  });

  it("refuses a URL that is not its own, as an unknown host would", async () => {
    // Prepare
    const { api } = inProcess();

    // Act
    const error = await rejectionOf(api.fetch("http://127.0.0.1:9/v1/tasks"));

    // Assess
    expect(error).toBeInstanceOf(TypeError);
    expect(api.state.requests).toEqual([]);
  });
});
