import { beforeEach, describe, expect, it } from "vitest";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { RedisCloudError, type RedisTask } from "../../../functions/lib/redis-cloud.ts";
import {
  DEFAULT_SETTINGS,
  type RegistrarWork,
  type TickDeps,
  tick,
} from "../../../functions/lib/registrar.ts";
import type {
  QueuedRequest,
  RegistrarQueue,
  RegistrarState,
  Request,
  RequestKind,
} from "../../../functions/lib/registrar-queue.ts";
import { requestId } from "../../../functions/lib/registrar-queue.ts";
import { TickRedis } from "../../../functions/lib/registrar-redis.ts";
import type { Registration } from "../../../functions/lib/registration.ts";

/*
 * One tick of the registrar, against an in-memory queue, a scripted Redis task list and scripted
 * step code: what it sends, when, what it answers each waiting execution, and when it looks again.
 */

const SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/222222222222-AbCdEf";

/** The queue as DynamoRegistrarQueue keeps it, in a Map. */
class MemoryQueue implements RegistrarQueue {
  readonly items = new Map<string, QueuedRequest>();
  state: RegistrarState = { sent: [] };

  async submit(request: Request, taskToken: string) {
    const id = requestId(request.execution, request.kind);
    const queued = { ...(this.items.get(id) ?? request), id, taskToken };
    this.items.set(id, queued);
    return queued;
  }
  async get(execution: string, kind: RequestKind) {
    return this.items.get(requestId(execution, kind));
  }
  async list() {
    return [...this.items.values()].sort((a, b) => a.enqueuedAt - b.enqueuedAt);
  }
  async update(request: QueuedRequest) {
    const current = this.items.get(request.id);
    if (!current || current.taskToken !== request.taskToken) return false;
    this.items.set(request.id, request);
    return true;
  }
  async remove(request: QueuedRequest) {
    this.items.delete(request.id);
  }
  async loadState() {
    return this.state;
  }
  async saveState(state: RegistrarState) {
    this.state = state;
    return true;
  }
}

/** A client whose one look at the task list answers `tasks`, and whose single reads answer 404. */
class ScriptedRedis extends TickRedis {
  listed: RedisTask[] = [];
  looks = 0;
  reads = 0;
  constructor() {
    super({ baseUrl: "http://redis.invalid/v1", keys: { accountKey: "a", userKey: "b" } });
  }
  /** What the task list answers instead, when set. */
  refusal: Error | undefined;
  override async lookAtTasks() {
    this.looks += 1;
    if (this.refusal) throw this.refusal;
  }
  override seen(taskId: string) {
    return this.listed.find((t) => t.taskId === taskId);
  }
  override async readTask(taskId: string): Promise<RedisTask> {
    this.reads += 1;
    const found = this.seen(taskId);
    if (found) return found;
    throw new RedisCloudError("RedisCloudNotFound", `task ${taskId} not found`, 404);
  }
}

let queue: MemoryQueue;
let redis: ScriptedRedis;
let clock: number;
let answers: { token: string; ok: boolean; output?: unknown; error?: string; cause?: string }[];
let heartbeats: string[];
let gone: Set<string>;
let work: RegistrarWork & { registered: string[]; checked: string[]; withdrawn: string[] };

const account = (n: number) => String(300_000_000_000 + n);

async function hand(n: number, kind: RequestKind = "register", at = clock) {
  await queue.submit(
    {
      kind,
      execution: `run-${n}`,
      target: {
        accountId: account(n),
        roleName: "OrganizationAccountAccessRole",
        accountName: `aws-${account(n)}`,
      },
      ...(kind === "register" ? { credentialsSecretArn: SECRET } : {}),
      enqueuedAt: at,
      heartbeatAt: at,
      phase: "queued",
    },
    `token-${n}-${kind}`,
  );
}

const run = (more: Partial<TickDeps> = {}) =>
  tick({
    queue,
    state: queue.state,
    redis,
    work,
    tokens: {
      succeed: async (token, output) => {
        answers.push({ token, ok: true, output });
        return !gone.has(token);
      },
      fail: async (token, error, cause) => {
        answers.push({ token, ok: false, error, cause });
        return !gone.has(token);
      },
      heartbeat: async (token) => {
        heartbeats.push(token);
        return !gone.has(token);
      },
    },
    now: () => clock,
    settings: DEFAULT_SETTINGS,
    ...more,
  });

const taskOf = (n: number, status: string): RedisTask => ({
  taskId: `task-${n}`,
  status,
  links: [],
  ...(status === "processing-completed" ? { resourceId: 1000 + n } : {}),
});

beforeEach(() => {
  queue = new MemoryQueue();
  redis = new ScriptedRedis();
  clock = Date.parse("2026-11-30T12:00:00Z");
  answers = [];
  heartbeats = [];
  gone = new Set();
  const registered: string[] = [];
  const checked: string[] = [];
  const withdrawn: string[] = [];
  work = {
    registered,
    checked,
    withdrawn,
    register: async (request) => {
      registered.push(request.execution);
      return { taskId: `task-${request.execution.slice(4)}` } as Registration;
    },
    check: async (request) => {
      checked.push(request.execution);
      const n = Number(request.execution.slice(4));
      return { status: "active", cloudAccountId: 1000 + n, taskId: `task-${n}` } as Registration & {
        status: string;
      };
    },
    withdraw: async (request) => {
      withdrawn.push(request.execution);
      return { undone: [`CloudAccount of ${request.execution}`], leftBehind: [] };
    },
  };
});

describe("a tick of the registrar", () => {
  it("sends only maxInFlight registrations, oldest first, and leaves the rest queued", async () => {
    for (const n of [3, 1, 2]) await hand(n, "register", clock + n);

    const result = await run();

    expect(work.registered).toEqual(["run-1", "run-2"]);
    expect(result).toMatchObject({ sent: 2, waiting: 3, idle: false });
    expect((await queue.get("run-3", "register"))?.phase).toBe("queued");
    expect((await queue.get("run-1", "register"))?.phase).toBe("sent");
  });

  it("looks once at all tasks in flight, and answers each execution whose task ended with its cloud account", async () => {
    await hand(1);
    await hand(2);
    await run();
    redis.listed = [taskOf(1, "processing-completed"), taskOf(2, "processing-in-progress")];
    clock += 30_000;

    await run();

    expect(redis.looks).toBe(1);
    expect(work.checked).toEqual(["run-1"]);
    expect(answers).toEqual([
      { token: "token-1-register", ok: true, output: expect.objectContaining({ cloudAccountId: 1001 }) },
    ]);
    expect(await queue.get("run-1", "register")).toBeUndefined();
    expect((await queue.get("run-2", "register"))?.phase).toBe("sent");
  });

  it("takes a task not listed for fresh, then fails it as RedisTaskNotFound two minutes after its request", async () => {
    await hand(1);
    await run();
    clock += 119_000;
    await run();
    expect(answers).toEqual([]);

    clock += 2_000;
    await run();

    expect(redis.reads).toBe(1);
    expect(answers).toEqual([
      expect.objectContaining({ token: "token-1-register", ok: false, error: "RedisTaskNotFound" }),
    ]);
    expect(answers[0]?.cause).toMatch(/task-1 was still not found 120 s after its request/);
    expect(queue.items.size).toBe(0);
  });

  it("asks again, 15 s later, when Redis refused a key not yet propagated, and gives up after five refusals", async () => {
    await hand(1);
    work.register = async () => {
      throw new WorkflowError("CloudAccountInvalidCreds", "RegisterCloudAccount: key refused");
    };
    await run();
    const first = await queue.get("run-1", "register");
    expect(first).toMatchObject({ phase: "queued", refusals: 1, notBefore: clock + 15_000 });

    for (let i = 0; i < 3; i++) {
      clock += 15_000;
      await run();
    }
    expect(answers).toEqual([]);
    clock += 15_000;
    await run();

    expect(answers).toEqual([expect.objectContaining({ ok: false, error: "CloudAccountInvalidCreds" })]);
  });

  it("answers a permanent failure by its name, and keeps a transient one for the next tick", async () => {
    await hand(1);
    await hand(2);
    work.register = async (request) => {
      if (request.execution === "run-1")
        throw new WorkflowError("RedisCloudUnauthorized", "RegisterCloudAccount: keys refused");
      throw new WorkflowError("RedisCloudUnavailable", "RegisterCloudAccount: 503");
    };

    await run();

    expect(answers).toEqual([
      expect.objectContaining({ token: "token-1-register", ok: false, error: "RedisCloudUnauthorized" }),
    ]);
    expect((await queue.get("run-2", "register"))?.phase).toBe("queued");
  });

  it("makes a withdrawal wait for its run's create task, then deletes what it made and forgets the registration", async () => {
    await hand(1);
    await run();
    await hand(1, "withdraw");
    redis.listed = [taskOf(1, "processing-in-progress")];
    clock += 5_000;
    await run();
    expect(work.withdrawn).toEqual([]);

    redis.listed = [taskOf(1, "processing-completed")];
    clock += 30_000;
    await run();

    expect(work.withdrawn).toEqual(["run-1"]);
    expect(answers).toEqual([
      expect.objectContaining({
        token: "token-1-withdraw",
        ok: true,
        output: expect.objectContaining({ undone: ["CloudAccount of run-1"] }),
      }),
    ]);
    expect(queue.items.size).toBe(0);
  });

  it("drops a registration never sent when its run withdraws it, without waiting", async () => {
    await hand(1);
    await hand(2);
    await hand(3);
    await run();
    await hand(3, "withdraw");

    await run();

    expect(work.registered).toEqual(["run-1", "run-2"]);
    expect(work.withdrawn).toEqual(["run-3"]);
    expect(await queue.get("run-3", "register")).toBeUndefined();
  });

  it("tells each waiting execution it is alive every five minutes, and drops a queued request whose run is gone", async () => {
    for (const n of [1, 2, 3]) await hand(n);
    await run();
    redis.listed = [taskOf(1, "processing-in-progress"), taskOf(2, "received")];
    gone.add("token-3-register");
    clock += DEFAULT_SETTINGS.heartbeatMs;

    await run();

    expect(heartbeats.sort()).toEqual(["token-1-register", "token-2-register", "token-3-register"]);
    expect(await queue.get("run-3", "register")).toBeUndefined();
    expect(await queue.get("run-1", "register")).toBeDefined();
  });

  it("leaves a throttled heartbeat to the next tick, and still answers and heartbeats the others", async () => {
    for (const n of [1, 2, 3]) await hand(n);
    await run();
    redis.listed = [taskOf(1, "processing-completed"), taskOf(2, "processing-in-progress")];
    clock += DEFAULT_SETTINGS.heartbeatMs;
    const throttled = new WorkflowError("Throttling", "SendTaskHeartbeat: Rate exceeded");
    const tokens = {
      succeed: async (token: string, output: unknown) => Boolean(answers.push({ token, ok: true, output })),
      fail: async () => true,
      heartbeat: async (token: string) => {
        if (token === "token-2-register") throw throttled;
        heartbeats.push(token);
        return true;
      },
    };

    const result = await run({ tokens });

    expect(answers.map((a) => a.token)).toEqual(["token-1-register"]);
    expect(heartbeats).toEqual(["token-3-register"]);
    expect(result.waiting).toBe(2);
    // Not marked as heard: the next tick tries run-2's heartbeat again.
    const next = await run();
    expect(next.waiting).toBe(2);
    expect(heartbeats).toEqual(["token-3-register", "token-2-register"]);
  });

  it("hears a long queue over several ticks, stalest first, never past its slice of the tick", async () => {
    // 1,000 waiting executions (a fleet's rotations), handed over a second apart.
    for (let n = 1; n <= 1_000; n++) await hand(n, "register", clock + n * 1_000);
    for (const request of await queue.list()) await queue.update({ ...request, phase: "checking" });
    work.check = async (request) =>
      ({ status: "pending", taskId: `task-${request.execution.slice(4)}` }) as never;
    clock += 1_000_000 + DEFAULT_SETTINGS.heartbeatMs;
    // Each heartbeat takes 50 ms of the tick.
    const tokens = {
      succeed: async () => true,
      fail: async () => true,
      heartbeat: async (token: string) => {
        clock += 50;
        heartbeats.push(token);
        return true;
      },
    };

    const firstTick = clock;
    await run({ tokens });
    const first = heartbeats.length;
    const firstTook = clock - firstTick;
    await run({ tokens });

    // 10 at once: a batch of 10 takes 500 ms here, so a 10 s slice hears 200 (one batch may start
    // just before the slice ends).
    expect(first).toBeGreaterThanOrEqual(200);
    expect(first).toBeLessThanOrEqual(210);
    expect(firstTook).toBeLessThanOrEqual(DEFAULT_SETTINGS.heartbeatSliceMs + 500);
    expect(heartbeats.slice(0, 3)).toEqual(["token-1-register", "token-2-register", "token-3-register"]);
    // The next tick goes on where this one stopped: no execution heard twice, none skipped.
    expect(new Set(heartbeats).size).toBe(heartbeats.length);
    expect(heartbeats[first]).toBe(`token-${first + 1}-register`);
    expect(heartbeats.length).toBeGreaterThanOrEqual(2 * 200);
  });

  it("fails the tick on a heartbeat's permanent error (the loop's retry and logs see it)", async () => {
    await hand(1);
    await run();
    redis.listed = [taskOf(1, "processing-in-progress")];
    clock += DEFAULT_SETTINGS.heartbeatMs;
    const denied = new WorkflowError("AccessDenied", "SendTaskHeartbeat: not authorized");
    const heartbeat = async () => Promise.reject(denied);

    await expect(
      run({ tokens: { succeed: async () => true, fail: async () => true, heartbeat } }),
    ).rejects.toBe(denied);
  });

  it("answers every waiting execution by name when Redis refuses the task list for good, and goes idle", async () => {
    for (const n of [1, 2, 3]) await hand(n);
    await run();
    await hand(4, "withdraw");
    redis.refusal = new RedisCloudError("RedisCloudUnauthorized", "Redis Cloud API answered 401", 401);

    const result = await run();

    expect(result).toMatchObject({ idle: true, waiting: 0 });
    expect(answers.map((a) => [a.token, a.ok, a.error])).toEqual(
      ["token-1-register", "token-2-register", "token-3-register", "token-4-withdraw"].map((t) => [
        t,
        false,
        "RedisCloudUnauthorized",
      ]),
    );
    expect(answers[0]?.cause).toBe("Registrar: GET /v1/tasks: Redis Cloud API answered 401");
    expect(await queue.list()).toEqual([]);
  });

  it("fails the tick, answering nobody, when the task list fails transiently (the loop tries again)", async () => {
    for (const n of [1, 2]) await hand(n);
    await run();
    redis.refusal = new RedisCloudError("RedisCloudUnavailable", "Redis Cloud API answered 503", 503);

    await expect(run()).rejects.toThrow("503");

    expect(answers).toEqual([]);
    expect(await queue.list()).toHaveLength(2);
  });

  it("looks again when the task Redis works should end, learned from the tasks before", async () => {
    await hand(1);
    await hand(2);
    const first = await run();
    expect(first.nextSeconds).toBe(30);

    clock += 40_000;
    redis.listed = [taskOf(1, "processing-completed"), taskOf(2, "processing-in-progress")];
    const second = await run();

    // Task 1 took 40 s: the estimate becomes (30 + 40) / 2 = 35 s from its end.
    expect(queue.state.taskMs).toBe(35_000);
    expect(second.nextSeconds).toBe(35);
  });

  it("is idle when nothing is queued", async () => {
    expect(await run()).toMatchObject({ idle: true, waiting: 0 });
  });
});
