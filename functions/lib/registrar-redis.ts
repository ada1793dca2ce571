import {
  type CloudAccount,
  RedisCloud,
  RedisCloudError,
  type RedisCloudOptions,
  type RedisTask,
} from "./redis-cloud.ts";
import type { RegistrarState } from "./registrar-queue.ts";

/*
 * How the registrar spends Redis's 400 requests a minute per API key: a budget over a sliding
 * minute (stricter than a token bucket, whose burst could exceed the minute's count), Redis's own
 * Retry-After and X-Rate-Limit-Remaining obeyed, and one look at all tasks and all cloud accounts
 * per tick shared by every request in flight instead of one read per execution.
 */

const MINUTE_MS = 60_000;
/** Redis Cloud's requests a minute per API key. */
const REDIS_LIMIT = 400;

export interface BudgetOptions {
  /** Requests allowed in any 60 s; below Redis's 400 to leave headroom for people and tools. */
  perMinute: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Epoch ms after which a request would outlive the tick: it is not sent this tick. */
  deadline: number;
}

/** The tick ran out of time waiting for budget: the request goes in a later tick, not failed. */
export class BudgetSpent extends Error {
  override readonly name = "BudgetSpent";
}

/** The sliding minute, kept in the registrar's state between ticks. */
export class RequestBudget {
  constructor(
    private readonly state: RegistrarState,
    private readonly options: BudgetOptions,
  ) {}

  /** Waits until one more request fits in the minute (or Redis's pause is over), then counts it. */
  async take(): Promise<void> {
    const { perMinute, now, sleep, deadline } = this.options;
    const at = now();
    this.state.sent = this.state.sent.filter((t) => t > at - MINUTE_MS);
    const full = this.state.sent.length >= perMinute;
    const windowFree = full ? (this.state.sent[this.state.sent.length - perMinute] ?? at) + MINUTE_MS : at;
    const until = Math.max(windowFree, this.state.pausedUntil ?? 0);
    if (until > deadline) throw new BudgetSpent(`no budget left before ${new Date(deadline).toISOString()}`);
    if (until > at) await sleep(until - at);
    this.state.sent.push(Math.max(at, until));
  }

  /** Redis's word on the limit overrides ours: a 429's Retry-After, or fewer requests left than we think. */
  observe(response: Response): void {
    const at = this.options.now();
    const retryAfter = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
    if (response.status === 429) {
      const pause = Number.isFinite(retryAfter) ? retryAfter * 1000 : MINUTE_MS;
      this.state.pausedUntil = Math.max(this.state.pausedUntil ?? 0, at + pause);
    }
    const remaining = Number.parseInt(response.headers.get("x-rate-limit-remaining") ?? "", 10);
    const ours = this.options.perMinute - this.state.sent.length;
    // Someone else spends the same API key: count their requests as ours for the minute (only
    // meaningful under Redis's own limit, which is what Redis counts down from).
    if (Number.isFinite(remaining) && remaining < ours && this.options.perMinute <= REDIS_LIMIT) {
      for (let i = 0; i < ours - remaining; i++) this.state.sent.push(at);
    }
  }
}

/** A fetch that waits for budget before each request and retries a 429 once budget allows. */
export function budgetedFetch(budget: RequestBudget, fetchImpl: typeof fetch, attempts = 3): typeof fetch {
  return async (input, init) => {
    let response: Response | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await budget.take();
      response = await fetchImpl(input, init);
      budget.observe(response);
      if (response.status !== 429) return response;
    }
    return response as Response;
  };
}

/**
 * A client whose reads come from the tick's two looks (GET /v1/tasks, GET /v1/cloud-accounts) when
 * it has them: the steps' code asks per task and per account, the registrar answers from one list.
 * A task missing from the list answers 404, as a fresh task does at Redis. A cloud account is read
 * by id when the list masks its key (the key decides whose it is).
 */
export class TickRedis extends RedisCloud {
  protected tasks: Map<string, RedisTask> | undefined;
  private accounts: CloudAccount[] | undefined;

  constructor(options: RedisCloudOptions) {
    super(options);
  }

  /** One GET /v1/tasks for every task in flight. */
  async lookAtTasks(): Promise<void> {
    const tasks = await super.listTasks();
    this.tasks = new Map(tasks.map((task) => [task.taskId, task]));
  }

  /** The task as the tick's look saw it; undefined when it was not listed. */
  seen(taskId: string): RedisTask | undefined {
    return this.tasks?.get(taskId);
  }

  /** Asks Redis for this one task, past the list (a list may leave old tasks out). */
  readTask(taskId: string): Promise<RedisTask> {
    return super.getTask(taskId);
  }

  override async listTasks(): Promise<RedisTask[]> {
    if (!this.tasks) await this.lookAtTasks();
    return [...(this.tasks?.values() ?? [])];
  }

  override async getTask(taskId: string): Promise<RedisTask> {
    if (!this.tasks) return super.getTask(taskId);
    const task = this.tasks.get(taskId);
    if (task) return task;
    throw new RedisCloudError("RedisCloudNotFound", `Redis Cloud task ${taskId} is not listed yet`, 404);
  }

  override async listCloudAccounts(): Promise<CloudAccount[]> {
    this.accounts ??= await super.listCloudAccounts();
    return this.accounts;
  }

  override async getCloudAccount(id: number): Promise<CloudAccount> {
    const listed = (await this.listCloudAccounts()).find((account) => account.id === id);
    if (listed?.accessKeyId !== undefined && !listed.accessKeyId.includes("*")) return listed;
    if (!listed && this.accounts) {
      throw new RedisCloudError("RedisCloudNotFound", `Redis Cloud cloud account ${id} is not listed`, 404);
    }
    return super.getCloudAccount(id);
  }

  override async createCloudAccount(...args: Parameters<RedisCloud["createCloudAccount"]>) {
    this.accounts = undefined;
    return super.createCloudAccount(...args);
  }

  override async updateCloudAccount(...args: Parameters<RedisCloud["updateCloudAccount"]>) {
    this.accounts = undefined;
    return super.updateCloudAccount(...args);
  }

  override async deleteCloudAccount(id: number) {
    this.accounts = undefined;
    return super.deleteCloudAccount(id);
  }
}
