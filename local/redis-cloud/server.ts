import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TaskStatus } from "../../functions/lib/redis-cloud-schemas.ts";

/*
 * A local, stateful stand-in for the few Redis Cloud API endpoints the onboarding uses
 * (described in ./openapi.json). It behaves the way the live API does where the onboarding
 * depends on it: tasks that answer 404 while fresh, one task processed at a time, cloud accounts
 * that turn active, unique names and keys, the rate limit over a sliding minute, and a key refused
 * until IAM has propagated it.
 *
 * Two ways for Redis's work to take time. Poll mode (the default): time moves only when the client
 * polls a task, so tests are deterministic without a clock. Clock mode (`taskSeconds`): each task
 * takes that long on `now()`, worked out lazily on every request, so a virtual clock makes hours
 * of queued tasks take no real time. It is served over a socket (`startLocalRedisCloud`) or in
 * process (`createLocalRedisCloud`), by one handler.
 */

export interface LocalRedisCloudOptions {
  /** The API keys to accept; random ones by default. */
  keys?: { accountKey: string; userKey: string };
  /** Polls of a new task answered 404, as the live API does for a few seconds. Default 1. */
  taskNotFoundPolls?: number;
  /** Polls of a new cloud account answered `pending` before it is `active`. Default 2. */
  accountPendingPolls?: number;
  /** Whether AWS accepts this key yet; a create task of a key it does not fails INVALID_CREDS. */
  isKeyPropagated?: (accessKeyId: string) => boolean;
  /** Requests accepted in any sliding 60 s before 429. Default 400, as per API key at Redis. */
  rateLimitPerMinute?: number;
  /** The clock, in epoch milliseconds: the rate window's, and in clock mode Redis's work's. */
  now?: () => number;
  /**
   * Clock mode: how long Redis works on a task, in seconds (one number, or one per kind of task).
   * Unset: poll mode. Set it before the first request, not between. A task's outcome is decided
   * by the first request at or after its end, so `isKeyPropagated` is asked then, not at the end.
   */
  taskSeconds?: number | TaskSeconds;
  /** Clock mode: seconds a new task answers 404, as the live API does. Default 3. */
  freshSeconds?: number;
  /** Clock mode: seconds a new cloud account stays `pending` once its task completed. Default 0. */
  accountPendingSeconds?: number;
  /** Every create or update task fails with this error (a permanent failure). */
  failTasksWith?: { type: string; description?: string };
  /** New cloud accounts end `active-error` instead of `active`. */
  failAccounts?: boolean;
  /**
   * A transient fault for this request, before anything else happens: an HTTP status (e.g. 503)
   * or a connection reset. Fault-injection tests set it; nothing is changed by a faulted request,
   * except by `lost`: the request is carried out, then the connection dropped before the answer.
   */
  fault?: (request: RecordedRequest) => { status: number } | "reset" | "lost" | undefined;
}

export type { TaskStatus };

/** How long each kind of task takes in clock mode, in seconds. */
export interface TaskSeconds {
  create: number;
  update: number;
  delete: number;
}

export interface MockTask {
  taskId: string;
  commandType: "cloudAccountCreateRequest" | "cloudAccountUpdateRequest" | "cloudAccountDeleteRequest";
  status: TaskStatus;
  timestamp: string;
  /** Polls still answered 404 (poll mode). */
  hiddenPolls: number;
  /** When it was made, by `now()`; in clock mode it answers 404 for `freshSeconds` from then. */
  createdAt: number;
  /** Clock mode: when Redis began and ended its work on it. */
  startedAt?: number;
  endedAt?: number;
  /** What the task was asked: the create request (secrets dropped) or the account to delete. */
  create?: { name: string; accessKeyId: string; consoleUsername: string; signInLoginUrl: string };
  /** An update's new credentials (secrets dropped), for the account `cloudAccountId`. */
  update?: { name?: string; accessKeyId: string; consoleUsername: string; signInLoginUrl?: string };
  cloudAccountId?: number;
  error?: { type: string; status: string; description: string };
}

export interface MockAccount {
  id: number;
  name: string;
  provider: "AWS";
  accessKeyId: string;
  consoleUsername: string;
  signInLoginUrl: string;
  status: "pending" | "active" | "active-error";
  /** Reads still answered `pending` (poll mode). */
  pendingPolls: number;
  /** Clock mode: when it stops being `pending`. */
  readyAt?: number;
}

/** One request as received, with the key headers and the body's secrets redacted. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  status: number;
  /** When it arrived, by `now()`: the busiest sliding minute is computed from it. */
  at: number;
}

export interface LocalRedisCloudState {
  /** Mutable: a test may change a fault between calls. */
  options: Required<Omit<LocalRedisCloudOptions, "keys" | "failTasksWith" | "fault" | "taskSeconds">> &
    Pick<LocalRedisCloudOptions, "failTasksWith" | "fault" | "taskSeconds">;
  accounts: Map<number, MockAccount>;
  tasks: Map<string, MockTask>;
  /** Unfinished tasks in arrival order: only the first is processed. */
  queue: string[];
  requests: RecordedRequest[];
  // --- Offboarding ---
  /** Subscriptions, each on one cloud account (`addSubscription`); none unless a test adds them. */
  subscriptions?: MockSubscription[];
}

// --- Offboarding ---
export interface MockSubscription {
  id: number;
  name: string;
  cloudAccountId: number;
}

/** A subscription deployed on a cloud account: Redis refuses to lose that account under it. */
export function addSubscription(
  redis: { state: LocalRedisCloudState },
  cloudAccountId: number,
): MockSubscription {
  redis.state.subscriptions ??= [];
  const subscriptions = redis.state.subscriptions;
  const id = 1200 + subscriptions.length + 1;
  const subscription = { id, name: `subscription-${id}`, cloudAccountId };
  subscriptions.push(subscription);
  return subscription;
}

export interface LocalRedisCloud {
  /** Base URL, e.g. `http://127.0.0.1:38123/v1`. */
  url: string;
  keys: { accountKey: string; userKey: string };
  state: LocalRedisCloudState;
  /** A fetch that reaches this API: over the socket, or in process for `createLocalRedisCloud`. */
  fetch: typeof fetch;
  /** Clock mode: brings tasks and cloud accounts in `state` up to `now()` (requests do it too). */
  refresh(): void;
  close(): Promise<void>;
}

export const REDACTED = "<redacted>";
const KEY_HEADERS = new Set(["x-api-key", "x-api-secret-key", "x-auth-token", "authorization"]);
const SECRET_FIELDS = new Set(["accessSecretKey", "consolePassword"]);
const REQUIRED_FIELDS = [
  "name",
  "accessKeyId",
  "accessSecretKey",
  "consoleUsername",
  "consolePassword",
  "signInLoginUrl",
] as const;
/** The spec's CloudAccountUpdateRequest: name and signInLoginUrl may be left out. */
const UPDATE_REQUIRED_FIELDS = [
  "accessKeyId",
  "accessSecretKey",
  "consoleUsername",
  "consolePassword",
] as const;
const MAX_BODY = 64 * 1024;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A request as both transports hand it to the API: header names in lower case. */
interface ApiRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  text: string;
}

/** The connection is dropped instead of answering (an injected `reset` or `lost`). */
const DROPPED = Symbol("dropped");

/** The host of the in-process API: reserved (RFC 2606), so it never resolves if used by mistake. */
export const IN_PROCESS_URL = "http://redis-cloud.invalid/v1";

const SLIDING_WINDOW_MS = 60_000;

/** The local API on a socket at 127.0.0.1, for clients that make real HTTP requests. */
export async function startLocalRedisCloud(options: LocalRedisCloudOptions = {}): Promise<LocalRedisCloud> {
  const { keys, state, api } = newApi(options);
  const server = createServer((req, res) => {
    serveSocket(api, req, res).catch(() =>
      send(res, { status: 500, body: apiError(500, "GENERAL_ERROR", "mock failure") }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    keys,
    state,
    // Looked up on each call, so that a test's spy on the global fetch still sees the requests.
    fetch: (input, init) => globalThis.fetch(input, init),
    refresh: () => api.refresh(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The local API without a socket: its `fetch` runs the same handler in process and answers a
 * Response as the socket server would (status, JSON body, headers), or rejects with a TypeError as
 * fetch does on a dropped connection. Nothing in it waits on real I/O or timers, so it runs under
 * a virtual clock.
 */
export function createLocalRedisCloud(options: LocalRedisCloudOptions = {}): LocalRedisCloud {
  const { keys, state, api } = newApi(options);
  const base = new URL(IN_PROCESS_URL);
  const inProcessFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    request.signal.throwIfAborted();
    const url = new URL(request.url);
    if (url.origin !== base.origin) throw new TypeError(`fetch failed: ${url.origin} is not ${base.origin}`);
    const text = Buffer.from(await request.arrayBuffer())
      .subarray(0, MAX_BODY)
      .toString("utf8");
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const reply = answerSafely(api, { method: request.method, path: url.pathname, headers, text });
    if (reply === DROPPED) throw connectionReset();
    const body = replyText(reply);
    return new Response(body === "" ? null : body, { status: reply.status, headers: replyHeaders(reply) });
  };
  return {
    url: IN_PROCESS_URL,
    keys,
    state,
    fetch: inProcessFetch as typeof fetch,
    refresh: () => api.refresh(),
    close: async () => {},
  };
}

function newApi(options: LocalRedisCloudOptions) {
  const keys = options.keys ?? {
    accountKey: `local-account-${randomBytes(12).toString("hex")}`,
    userKey: `local-user-${randomBytes(12).toString("hex")}`,
  };
  const state: LocalRedisCloudState = {
    options: {
      taskNotFoundPolls: options.taskNotFoundPolls ?? 1,
      accountPendingPolls: options.accountPendingPolls ?? 2,
      isKeyPropagated: options.isKeyPropagated ?? (() => true),
      rateLimitPerMinute: options.rateLimitPerMinute ?? 400,
      // Read on each call, so that the clock follows whatever Date is installed (a virtual one).
      now: options.now ?? (() => Date.now()),
      taskSeconds: options.taskSeconds,
      freshSeconds: options.freshSeconds ?? 3,
      accountPendingSeconds: options.accountPendingSeconds ?? 0,
      failTasksWith: options.failTasksWith,
      failAccounts: options.failAccounts ?? false,
      fault: options.fault,
    },
    accounts: new Map(),
    tasks: new Map(),
    queue: [],
    requests: [],
  };
  return { keys, state, api: new Api(state, keys) };
}

async function serveSocket(api: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = String(value);
  const request: ApiRequest = {
    method: req.method ?? "GET",
    path: new URL(req.url ?? "/", "http://localhost").pathname,
    headers,
    text: await readBody(req),
  };
  const reply = answerSafely(api, request);
  // The client sees its connection dropped mid-request, as on a network fault.
  if (reply === DROPPED) req.socket.destroy();
  else send(res, reply);
}

/** A failure of the stand-in itself is a 500, as a bug at Redis would be. */
function answerSafely(api: Api, request: ApiRequest): Reply | typeof DROPPED {
  try {
    return api.handle(request);
  } catch {
    return { status: 500, body: apiError(500, "GENERAL_ERROR", "mock failure") };
  }
}

/** What fetch rejects with when the server drops the connection (undici: "fetch failed"). */
function connectionReset(): TypeError {
  const cause = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
  return new TypeError("fetch failed", { cause });
}

/**
 * The busiest sliding 60 s of these requests: the most that arrived within any 60 s (by `at`),
 * counting those `counts` keeps (all by default; e.g. `(r) => r.status !== 429` for accepted ones).
 */
export function busiestMinute(
  requests: readonly RecordedRequest[],
  counts: (request: RecordedRequest) => boolean = () => true,
): number {
  const times = requests
    .filter(counts)
    .map((request) => request.at)
    .sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < times.length; last++) {
    while ((times[first] ?? 0) <= (times[last] ?? 0) - SLIDING_WINDOW_MS) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

class Api {
  private nextAccountId = 1001;
  /** When each request counted in the sliding window was accepted, oldest first, from `oldest`. */
  private accepted: number[] = [];
  private oldest = 0;
  /** Clock mode: when Redis finished its last task, so the next one starts no earlier. */
  private lastEndedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly state: LocalRedisCloudState,
    private readonly keys: { accountKey: string; userKey: string },
  ) {}

  /** One request, whichever transport brought it: its answer, or DROPPED for a faulted connection. */
  handle(request: ApiRequest): Reply | typeof DROPPED {
    const { method, path, text } = request;
    const body = text === "" ? undefined : parseJson(text);
    const record: RecordedRequest = {
      method,
      path,
      headers: redactHeaders(request.headers),
      status: 0,
      at: 0,
    };
    if (text !== "") record.body = body === undefined ? `<${text.length} bytes, not JSON>` : redactBody(body);
    this.state.requests.push(record);
    // The clock is read once the request is on record: a test's clock may decide by the request.
    record.at = this.state.options.now();

    const fault = this.state.options.fault?.(record);
    if (fault === "reset") return DROPPED;
    if (fault === "lost") {
      // Done at Redis, but the client never hears of it (a timeout, a reset on the way back).
      record.status = this.answer(request, body, record.at).status;
      return DROPPED;
    }
    if (fault) {
      record.status = fault.status;
      return { status: fault.status, body: apiError(fault.status, "SERVICE_UNAVAILABLE", "Injected fault") };
    }
    const reply = this.answer(request, body, record.at);
    record.status = reply.status;
    return reply;
  }

  /** Clock mode: Redis's work up to now, as a request would see it. */
  refresh(): void {
    if (this.clockMode()) this.progress(this.state.options.now());
  }

  private answer(request: ApiRequest, body: unknown, now: number): Reply {
    return (
      this.authorize(request.headers) ??
      this.limited(now, () => {
        if (this.clockMode()) this.progress(now);
        return this.route(request.method, request.path, request.text, body, now);
      })
    );
  }

  private authorize(headers: Record<string, string>): Reply | undefined {
    if (headers["x-api-key"] === this.keys.accountKey && headers["x-api-secret-key"] === this.keys.userKey) {
      return undefined;
    }
    return {
      status: 401,
      body: apiError(401, "UNAUTHORIZED", "Authentication failed for requested resource"),
    };
  }

  /**
   * A sliding 60 s window per API key: a request is accepted while fewer than the limit were
   * accepted in the last 60 s. Every answer says what is left; a 429 says when the oldest counted
   * request leaves the window, which is when one more will be accepted.
   */
  private limited(now: number, answer: () => Reply): Reply {
    const inWindow = this.slideWindow(now);
    const allowed = this.state.options.rateLimitPerMinute;
    if (inWindow >= allowed) {
      const oldest = this.accepted[this.oldest];
      // With nothing counted (a limit of 0) no request will leave: a whole window is the honest wait.
      const waitMs = oldest === undefined ? SLIDING_WINDOW_MS : oldest + SLIDING_WINDOW_MS - now;
      return {
        status: 429,
        body: apiError(429, "TOO_MANY_REQUESTS", `Rate limit of ${allowed} requests per minute exceeded`),
        headers: {
          "X-Rate-Limit-Remaining": "0",
          "Retry-After": String(Math.max(1, Math.ceil(waitMs / 1000))),
        },
      };
    }
    this.accepted.push(now);
    const remaining = { "X-Rate-Limit-Remaining": String(Math.max(0, allowed - inWindow - 1)) };
    const reply = answer();
    return { ...reply, headers: { ...remaining, ...reply.headers } };
  }

  /** Forgets the requests 60 s old or older; answers how many are left in the window. */
  private slideWindow(now: number): number {
    while (
      this.oldest < this.accepted.length &&
      (this.accepted[this.oldest] ?? 0) <= now - SLIDING_WINDOW_MS
    ) {
      this.oldest++;
    }
    // Compacted now and then, not on every request: a long run keeps only the last minute.
    if (this.oldest > 1024 && this.oldest * 2 > this.accepted.length) {
      this.accepted = this.accepted.slice(this.oldest);
      this.oldest = 0;
    }
    return this.accepted.length - this.oldest;
  }

  private clockMode(): boolean {
    return this.state.options.taskSeconds !== undefined;
  }

  private route(method: string, path: string, text: string, body: unknown, now: number): Reply {
    if (path === "/v1/cloud-accounts") {
      if (method === "GET") return this.listAccounts();
      if (method === "POST") return this.createAccount(text, body, now);
      return notAllowed();
    }
    const account = /^\/v1\/cloud-accounts\/(\d+)$/.exec(path);
    if (account) {
      const id = Number(account[1]);
      if (method === "GET") return this.getAccount(id);
      if (method === "PUT") return this.updateAccount(id, text, body, now);
      if (method === "DELETE") return this.deleteAccount(id, now);
      return notAllowed();
    }
    if (path === "/v1/tasks") return method === "GET" ? this.listTasks(now) : notAllowed();
    // --- Offboarding ---
    if (path === "/v1/subscriptions") return method === "GET" ? this.listSubscriptions() : notAllowed();
    const task = /^\/v1\/tasks\/([^/]+)$/.exec(path);
    if (task && method === "GET") return this.getTask(decodeURIComponent(task[1] ?? ""), now);
    return { status: 404, body: apiError(404, "NOT_FOUND", `No such resource: ${method} ${path}`) };
  }

  /** The list, as each account is read by id: a look at it is a moment of work for a pending one. */
  private listAccounts(): Reply {
    for (const account of this.state.accounts.values()) this.settle(account);
    const cloudAccounts = [...this.state.accounts.values()].map(accountView);
    return {
      status: 200,
      body: { accountId: 40131, cloudAccounts, links: [selfLink("/v1/cloud-accounts")] },
    };
  }

  private createAccount(text: string, body: unknown, now: number): Reply {
    const request = objectBody(text, body);
    if (!request) return badRequest("The request body must be a JSON object");
    const missing = REQUIRED_FIELDS.filter(
      (field) => typeof request[field] !== "string" || request[field] === "",
    );
    if (missing.length > 0) return badRequest(`Missing required fields: ${missing.join(", ")}`);
    if (request.provider !== undefined && request.provider !== "AWS") {
      return badRequest("Only provider AWS is supported for cloud accounts");
    }
    const task = this.newTask(
      "cloudAccountCreateRequest",
      {
        create: {
          name: request.name as string,
          accessKeyId: request.accessKeyId as string,
          consoleUsername: request.consoleUsername as string,
          signInLoginUrl: request.signInLoginUrl as string,
        },
      },
      now,
    );
    return { status: 202, body: taskView(task) };
  }

  /** An update is a task like a create: the account keeps its key until Redis has worked it. */
  private updateAccount(id: number, text: string, body: unknown, now: number): Reply {
    const request = objectBody(text, body);
    if (!request) return badRequest("The request body must be a JSON object");
    const missing = UPDATE_REQUIRED_FIELDS.filter(
      (field) => typeof request[field] !== "string" || request[field] === "",
    );
    if (missing.length > 0) return badRequest(`Missing required fields: ${missing.join(", ")}`);
    if (!this.state.accounts.has(id)) return accountNotFound(id);
    const optional = (field: string) =>
      typeof request[field] === "string" && request[field] !== ""
        ? { [field]: request[field] as string }
        : {};
    const task = this.newTask(
      "cloudAccountUpdateRequest",
      {
        cloudAccountId: id,
        update: {
          accessKeyId: request.accessKeyId as string,
          consoleUsername: request.consoleUsername as string,
          ...optional("name"),
          ...optional("signInLoginUrl"),
        },
      },
      now,
    );
    return { status: 202, body: taskView(task) };
  }

  /**
   * Every task, as GET /v1/tasks/{id} shows it, but a fresh one. In poll mode a look at the list
   * is a moment of Redis's work, as a poll of one task is: fresh tasks come closer to being shown,
   * and the head of the queue moves on. In clock mode the request already brought all up to now.
   */
  private listTasks(now: number): Reply {
    const tasks = [...this.state.tasks.values()].filter((task) => !this.hidden(task, now)).map(taskView);
    if (!this.clockMode()) {
      for (const task of this.state.tasks.values()) {
        if (task.hiddenPolls > 0) task.hiddenPolls -= 1;
        else if (task.status === "initialized") task.status = "received";
      }
      this.work();
    }
    return { status: 200, body: { tasks } };
  }

  private getAccount(id: number): Reply {
    const account = this.state.accounts.get(id);
    if (!account) return accountNotFound(id);
    this.settle(account);
    return { status: 200, body: accountView(account) };
  }

  /**
   * A pending account after one more look (poll mode): still pending for its remaining polls, then
   * its end. In clock mode the request already brought the account up to now: a read is no poll.
   */
  private settle(account: MockAccount): void {
    if (this.clockMode() || account.status !== "pending") return;
    if (account.pendingPolls > 0) account.pendingPolls -= 1;
    else account.status = this.activeStatus();
  }

  private activeStatus(): MockAccount["status"] {
    return this.state.options.failAccounts ? "active-error" : "active";
  }

  // --- Offboarding ---
  /** The spec's AccountSubscriptions: each subscription's cloud details name its cloud account. */
  private listSubscriptions(): Reply {
    const subscriptions = (this.state.subscriptions ?? []).map((s) => ({
      id: s.id,
      name: s.name,
      status: "active",
      cloudDetails: [{ provider: "AWS", cloudAccountId: s.cloudAccountId, links: [] }],
      links: [],
    }));
    return { status: 200, body: { accountId: 40131, subscriptions, links: [selfLink("/v1/subscriptions")] } };
  }

  private deleteAccount(id: number, now: number): Reply {
    if (!this.state.accounts.has(id)) return accountNotFound(id);
    // --- Offboarding ---
    if ((this.state.subscriptions ?? []).some((s) => s.cloudAccountId === id)) {
      return {
        status: 409,
        body: apiError(409, "CLOUD_ACCOUNT_IN_USE", `Cloud account ${id} is used by a subscription`),
      };
    }
    const task = this.newTask("cloudAccountDeleteRequest", { cloudAccountId: id }, now);
    return { status: 200, body: taskView(task) };
  }

  private newTask(commandType: MockTask["commandType"], what: Partial<MockTask>, now: number): MockTask {
    const task: MockTask = {
      taskId: randomUUID(),
      commandType,
      status: "initialized",
      timestamp: new Date(now).toISOString(),
      // In clock mode a task is hidden by its age instead.
      hiddenPolls: this.clockMode() ? 0 : this.state.options.taskNotFoundPolls,
      createdAt: now,
      ...what,
    };
    this.state.tasks.set(task.taskId, task);
    this.state.queue.push(task.taskId);
    return task;
  }

  /**
   * A poll: a fresh task is 404 for a while, then `received`. Each later poll is a moment of
   * Redis's work on the task at the head of the queue, which alone is processed: the others wait
   * in `received`, as at Redis, one task at a time per account.
   */
  private getTask(taskId: string, now: number): Reply {
    const task = this.state.tasks.get(taskId);
    if (!task || this.hidden(task, now)) {
      if (task && !this.clockMode()) task.hiddenPolls -= 1;
      return { status: 404, body: apiError(404, "TASK_NOT_FOUND", `Task ${taskId} not found`) };
    }
    // In clock mode the request already brought the queue up to now: a poll works nothing.
    if (this.clockMode()) return { status: 200, body: taskView(task) };
    if (task.status === "initialized") task.status = "received";
    else this.work();
    return { status: 200, body: taskView(task) };
  }

  /** A fresh task answers 404: for its first polls, or in clock mode for its first seconds. */
  private hidden(task: MockTask, now: number): boolean {
    if (this.clockMode()) return now < task.createdAt + this.state.options.freshSeconds * 1000;
    return task.hiddenPolls > 0;
  }

  /**
   * Clock mode: Redis's work up to `now`, worked out from the clock alone. The head of the queue
   * starts when it reaches the head (when the one before it ended, or when it was made) and ends
   * its time later; the others wait, `received` once they are no longer fresh.
   */
  private progress(now: number): void {
    for (;;) {
      const head = this.state.tasks.get(this.state.queue[0] ?? "");
      if (!head) break;
      head.startedAt ??= Math.max(head.createdAt, this.lastEndedAt);
      const endsAt = head.startedAt + this.taskMs(head);
      if (now < endsAt) {
        head.status = "processing-in-progress";
        break;
      }
      head.endedAt = endsAt;
      this.lastEndedAt = endsAt;
      this.finish(head, endsAt);
      this.state.queue.shift();
    }
    for (const id of this.state.queue) {
      const task = this.state.tasks.get(id);
      if (task?.status === "initialized" && !this.hidden(task, now)) task.status = "received";
    }
    for (const account of this.state.accounts.values()) {
      const ready = account.readyAt !== undefined && now >= account.readyAt;
      if (account.status === "pending" && ready) account.status = this.activeStatus();
    }
  }

  private taskMs(task: MockTask): number {
    const seconds = this.state.options.taskSeconds ?? 0;
    if (typeof seconds === "number") return seconds * 1000;
    const kind = TASK_KINDS[task.commandType];
    return seconds[kind] * 1000;
  }

  private work(): void {
    const head = this.state.tasks.get(this.state.queue[0] ?? "");
    if (!head) return;
    if (head.status === "initialized" || head.status === "received") {
      head.status = "processing-in-progress";
      return;
    }
    this.finish(head);
    this.state.queue.shift();
  }

  /** Redis's verdict on the task; `endedAt` (clock mode) is when it came. */
  private finish(task: MockTask, endedAt?: number): void {
    if (task.update) {
      this.finishUpdate(task, task.update);
      return;
    }
    const failure = task.create ? this.createFailure(task.create) : undefined;
    if (failure) {
      task.status = "processing-error";
      task.error = { ...failure, status: "400 BAD_REQUEST" };
      return;
    }
    if (task.create) {
      const id = this.nextAccountId++;
      this.state.accounts.set(id, {
        id,
        ...task.create,
        provider: "AWS",
        status: "pending",
        ...(endedAt === undefined
          ? { pendingPolls: this.state.options.accountPendingPolls }
          : { pendingPolls: 0, readyAt: endedAt + this.state.options.accountPendingSeconds * 1000 }),
      });
      task.cloudAccountId = id;
    } else if (task.cloudAccountId !== undefined) {
      this.state.accounts.delete(task.cloudAccountId);
    }
    task.status = "processing-completed";
  }

  /**
   * The account takes the new credentials, which Redis validates again: it ends active (or
   * active-error under failAccounts), whatever it was. No new account is made.
   */
  private finishUpdate(task: MockTask, update: NonNullable<MockTask["update"]>): void {
    const account = this.state.accounts.get(task.cloudAccountId ?? -1);
    const failure = account ? this.updateFailure(account, update) : CLOUD_ACCOUNT_GONE;
    if (failure || !account) {
      task.status = "processing-error";
      task.error = { ...(failure ?? CLOUD_ACCOUNT_GONE), status: "400 BAD_REQUEST" };
      return;
    }
    Object.assign(account, update);
    account.status = this.activeStatus();
    task.status = "processing-completed";
  }

  private updateFailure(
    account: MockAccount,
    update: NonNullable<MockTask["update"]>,
  ): { type: string; description: string } | undefined {
    const forced = this.state.options.failTasksWith;
    if (forced)
      return { type: forced.type, description: forced.description ?? `Forced failure ${forced.type}` };
    const others = [...this.state.accounts.values()].filter((a) => a.id !== account.id);
    if (others.some((a) => a.accessKeyId === update.accessKeyId)) {
      return {
        type: "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS",
        description: "Cloud account access key already exists",
      };
    }
    if (update.name !== undefined && others.some((a) => a.name === update.name)) {
      return { type: "CLOUD_ACCOUNT_NAME_EXISTS", description: "Cloud account name already exists" };
    }
    if (!this.state.options.isKeyPropagated(update.accessKeyId)) {
      return { type: "CLOUD_ACCOUNT_INVALID_CREDS", description: "Cloud account credentials are invalid" };
    }
    return undefined;
  }

  private createFailure(
    create: NonNullable<MockTask["create"]>,
  ): { type: string; description: string } | undefined {
    const forced = this.state.options.failTasksWith;
    if (forced)
      return { type: forced.type, description: forced.description ?? `Forced failure ${forced.type}` };
    const accounts = [...this.state.accounts.values()];
    if (accounts.some((a) => a.accessKeyId === create.accessKeyId)) {
      return {
        type: "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS",
        description: "Cloud account access key already exists",
      };
    }
    if (accounts.some((a) => a.name === create.name)) {
      return { type: "CLOUD_ACCOUNT_NAME_EXISTS", description: "Cloud account name already exists" };
    }
    if (!this.state.options.isKeyPropagated(create.accessKeyId)) {
      return { type: "CLOUD_ACCOUNT_INVALID_CREDS", description: "Cloud account credentials are invalid" };
    }
    return undefined;
  }
}

const TASK_KINDS: Record<MockTask["commandType"], keyof TaskSeconds> = {
  cloudAccountCreateRequest: "create",
  cloudAccountUpdateRequest: "update",
  cloudAccountDeleteRequest: "delete",
};

/** An update whose cloud account was deleted before Redis worked it. */
const CLOUD_ACCOUNT_GONE = { type: "CLOUD_ACCOUNT_NOT_FOUND", description: "Cloud account not found" };

function objectBody(text: string, body: unknown): Record<string, unknown> | undefined {
  if (text === "" || body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  return body as Record<string, unknown>;
}

const accountNotFound = (id: number): Reply => ({
  status: 404,
  body: apiError(404, "CLOUD_ACCOUNT_NOT_FOUND", `Cloud account ${id} not found`),
});

function taskView(task: MockTask): Record<string, unknown> {
  const response: Record<string, unknown> = {};
  if (task.status === "processing-completed" && task.cloudAccountId !== undefined) {
    response.resourceId = task.cloudAccountId;
  }
  if (task.error) response.error = task.error;
  return {
    taskId: task.taskId,
    commandType: task.commandType,
    status: task.status,
    description: `Task ${task.status}`,
    timestamp: task.timestamp,
    response,
    // The live API's shape, which differs from the spec's `links` array.
    _links: { task: { href: `/v1/tasks/${task.taskId}`, title: "getTaskStatusUpdates", type: "GET" } },
  };
}

function accountView(account: MockAccount): Record<string, unknown> {
  return {
    id: account.id,
    name: account.name,
    provider: account.provider,
    status: account.status,
    accessKeyId: account.accessKeyId,
    signInLoginUrl: account.signInLoginUrl,
    links: [selfLink(`/v1/cloud-accounts/${account.id}`)],
  };
}

const selfLink = (href: string) => ({ rel: "self", href, type: "GET" });

const STATUS_TEXT: Record<number, string> = {
  400: "400 BAD_REQUEST",
  401: "401 UNAUTHORIZED",
  404: "404 NOT_FOUND",
  405: "405 METHOD_NOT_ALLOWED",
  429: "429 TOO_MANY_REQUESTS",
  500: "500 INTERNAL_SERVER_ERROR",
};

function apiError(status: number, type: string, description: string) {
  return { type, status: STATUS_TEXT[status] ?? String(status), description };
}

const badRequest = (description: string): Reply => ({
  status: 400,
  body: apiError(400, "BAD_REQUEST", description),
});
const notAllowed = (): Reply => ({
  status: 405,
  body: apiError(405, "METHOD_NOT_ALLOWED", "Method not allowed"),
});

function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, replyHeaders(reply));
  res.end(replyText(reply));
}

const replyText = (reply: Reply): string => (reply.body === undefined ? "" : JSON.stringify(reply.body));

/** The headers of an answer, the same on the socket and in process. */
function replyHeaders(reply: Reply): Record<string, string> {
  return {
    ...(reply.body === undefined ? {} : { "Content-Type": "application/json" }),
    ...reply.headers,
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, KEY_HEADERS.has(name) ? REDACTED : value]),
  );
}

function redactBody(body: unknown): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return body;
  return Object.fromEntries(
    Object.entries(body).map(([field, value]) => [field, SECRET_FIELDS.has(field) ? REDACTED : value]),
  );
}
