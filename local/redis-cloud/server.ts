import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TaskStatus } from "../../functions/lib/redis-cloud-schemas.ts";

/*
 * A local, stateful stand-in for the few Redis Cloud API endpoints the onboarding uses
 * (described in ./openapi.json). It behaves the way the live API does where the onboarding
 * depends on it: tasks that progress over polls and answer 404 while fresh, one task processed at
 * a time, cloud accounts that turn active, unique names and keys, the rate limit, and a key
 * refused until IAM has propagated it. Time moves only when the client polls, so tests are
 * deterministic.
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
  /** Requests per minute before 429. Default 400, as per API key at Redis. */
  rateLimitPerMinute?: number;
  /** Clock of the rate window, in milliseconds. */
  now?: () => number;
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

export interface MockTask {
  taskId: string;
  commandType: "cloudAccountCreateRequest" | "cloudAccountUpdateRequest" | "cloudAccountDeleteRequest";
  status: TaskStatus;
  timestamp: string;
  /** Polls still answered 404. */
  hiddenPolls: number;
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
  pendingPolls: number;
}

/** One request as received, with the key headers and the body's secrets redacted. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  status: number;
}

export interface LocalRedisCloudState {
  /** Mutable: a test may change a fault between calls. */
  options: Required<Omit<LocalRedisCloudOptions, "keys" | "failTasksWith" | "fault">> &
    Pick<LocalRedisCloudOptions, "failTasksWith" | "fault">;
  accounts: Map<number, MockAccount>;
  tasks: Map<string, MockTask>;
  /** Unfinished tasks in arrival order: only the first is processed. */
  queue: string[];
  requests: RecordedRequest[];
}

export interface LocalRedisCloud {
  /** Base URL, e.g. `http://127.0.0.1:38123/v1`. */
  url: string;
  keys: { accountKey: string; userKey: string };
  state: LocalRedisCloudState;
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

export async function startLocalRedisCloud(options: LocalRedisCloudOptions = {}): Promise<LocalRedisCloud> {
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
      now: options.now ?? Date.now,
      failTasksWith: options.failTasksWith,
      failAccounts: options.failAccounts ?? false,
      fault: options.fault,
    },
    accounts: new Map(),
    tasks: new Map(),
    queue: [],
    requests: [],
  };
  const api = new Api(state, keys);
  const server = createServer((req, res) => {
    api
      .handle(req, res)
      .catch(() => send(res, { status: 500, body: apiError(500, "GENERAL_ERROR", "mock failure") }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    keys,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

class Api {
  private nextAccountId = 1001;
  private window = { start: 0, count: 0 };

  constructor(
    private readonly state: LocalRedisCloudState,
    private readonly keys: { accountKey: string; userKey: string },
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const text = await readBody(req);
    const body = text === "" ? undefined : parseJson(text);
    const record: RecordedRequest = { method, path, headers: redactHeaders(req), status: 0 };
    if (text !== "") record.body = body === undefined ? `<${text.length} bytes, not JSON>` : redactBody(body);
    this.state.requests.push(record);

    const fault = this.state.options.fault?.(record);
    if (fault === "reset") {
      // The client sees its connection dropped mid-request, as on a network fault.
      req.socket.destroy();
      return;
    }
    if (fault === "lost") {
      // Done at Redis, but the client never hears of it (a timeout, a reset on the way back).
      record.status = (
        this.authorize(req) ?? this.limited(() => this.route(method, path, text, body))
      ).status;
      req.socket.destroy();
      return;
    }
    if (fault) {
      record.status = fault.status;
      send(res, {
        status: fault.status,
        body: apiError(fault.status, "SERVICE_UNAVAILABLE", "Injected fault"),
      });
      return;
    }
    const reply = this.authorize(req) ?? this.limited(() => this.route(method, path, text, body));
    record.status = reply.status;
    send(res, reply);
  }

  private authorize(req: IncomingMessage): Reply | undefined {
    if (
      req.headers["x-api-key"] === this.keys.accountKey &&
      req.headers["x-api-secret-key"] === this.keys.userKey
    ) {
      return undefined;
    }
    return {
      status: 401,
      body: apiError(401, "UNAUTHORIZED", "Authentication failed for requested resource"),
    };
  }

  /** A fixed one-minute window per API key; every answer says what is left of it. */
  private limited(answer: () => Reply): Reply {
    const now = this.state.options.now();
    const start = Math.floor(now / 60_000) * 60_000;
    if (start !== this.window.start) this.window = { start, count: 0 };
    this.window.count += 1;
    const allowed = this.state.options.rateLimitPerMinute;
    const remaining = { "X-Rate-Limit-Remaining": String(Math.max(0, allowed - this.window.count)) };
    if (this.window.count > allowed) {
      const retryAfter = Math.max(1, Math.ceil((start + 60_000 - now) / 1000));
      return {
        status: 429,
        body: apiError(429, "TOO_MANY_REQUESTS", `Rate limit of ${allowed} requests per minute exceeded`),
        headers: { ...remaining, "Retry-After": String(retryAfter) },
      };
    }
    const reply = answer();
    return { ...reply, headers: { ...remaining, ...reply.headers } };
  }

  private route(method: string, path: string, text: string, body: unknown): Reply {
    if (path === "/v1/cloud-accounts") {
      if (method === "GET") return this.listAccounts();
      if (method === "POST") return this.createAccount(text, body);
      return notAllowed();
    }
    const account = /^\/v1\/cloud-accounts\/(\d+)$/.exec(path);
    if (account) {
      const id = Number(account[1]);
      if (method === "GET") return this.getAccount(id);
      if (method === "PUT") return this.updateAccount(id, text, body);
      if (method === "DELETE") return this.deleteAccount(id);
      return notAllowed();
    }
    if (path === "/v1/tasks") return method === "GET" ? this.listTasks() : notAllowed();
    const task = /^\/v1\/tasks\/([^/]+)$/.exec(path);
    if (task && method === "GET") return this.getTask(decodeURIComponent(task[1] ?? ""));
    return { status: 404, body: apiError(404, "NOT_FOUND", `No such resource: ${method} ${path}`) };
  }

  /** The list, as each account is read by id; a look at it is a moment of work for a pending one. */
  private listAccounts(): Reply {
    const cloudAccounts = [...this.state.accounts.values()].map(accountView);
    for (const account of this.state.accounts.values()) this.settle(account);
    return {
      status: 200,
      body: { accountId: 40131, cloudAccounts, links: [selfLink("/v1/cloud-accounts")] },
    };
  }

  private createAccount(text: string, body: unknown): Reply {
    const request = objectBody(text, body);
    if (!request) return badRequest("The request body must be a JSON object");
    const missing = REQUIRED_FIELDS.filter(
      (field) => typeof request[field] !== "string" || request[field] === "",
    );
    if (missing.length > 0) return badRequest(`Missing required fields: ${missing.join(", ")}`);
    if (request.provider !== undefined && request.provider !== "AWS") {
      return badRequest("Only provider AWS is supported for cloud accounts");
    }
    const task = this.newTask("cloudAccountCreateRequest", {
      create: {
        name: request.name as string,
        accessKeyId: request.accessKeyId as string,
        consoleUsername: request.consoleUsername as string,
        signInLoginUrl: request.signInLoginUrl as string,
      },
    });
    return { status: 202, body: taskView(task) };
  }

  /** An update is a task like a create: the account keeps its key until Redis has worked it. */
  private updateAccount(id: number, text: string, body: unknown): Reply {
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
    const task = this.newTask("cloudAccountUpdateRequest", {
      cloudAccountId: id,
      update: {
        accessKeyId: request.accessKeyId as string,
        consoleUsername: request.consoleUsername as string,
        ...optional("name"),
        ...optional("signInLoginUrl"),
      },
    });
    return { status: 202, body: taskView(task) };
  }

  /**
   * Every task, as GET /v1/tasks/{id} shows it, but a fresh one. A look at the list is a moment
   * of Redis's work, as a poll of one task is: fresh tasks come closer to being shown, and the
   * head of the queue moves on.
   */
  private listTasks(): Reply {
    const tasks = [...this.state.tasks.values()].filter((task) => task.hiddenPolls <= 0).map(taskView);
    for (const task of this.state.tasks.values()) {
      if (task.hiddenPolls > 0) task.hiddenPolls -= 1;
      else if (task.status === "initialized") task.status = "received";
    }
    this.work();
    return { status: 200, body: { tasks } };
  }

  private getAccount(id: number): Reply {
    const account = this.state.accounts.get(id);
    if (!account) return accountNotFound(id);
    const seen = accountView(account);
    this.settle(account);
    return { status: 200, body: seen };
  }

  /** A pending account after one more look: still pending for its remaining polls, then its end. */
  private settle(account: MockAccount): void {
    if (account.status !== "pending") return;
    if (account.pendingPolls > 0) account.pendingPolls -= 1;
    else account.status = this.state.options.failAccounts ? "active-error" : "active";
  }

  private deleteAccount(id: number): Reply {
    if (!this.state.accounts.has(id)) return accountNotFound(id);
    return { status: 200, body: taskView(this.newTask("cloudAccountDeleteRequest", { cloudAccountId: id })) };
  }

  private newTask(commandType: MockTask["commandType"], what: Partial<MockTask>): MockTask {
    const task: MockTask = {
      taskId: randomUUID(),
      commandType,
      status: "initialized",
      timestamp: new Date(this.state.options.now()).toISOString(),
      hiddenPolls: this.state.options.taskNotFoundPolls,
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
  private getTask(taskId: string): Reply {
    const task = this.state.tasks.get(taskId);
    if (!task || task.hiddenPolls > 0) {
      if (task) task.hiddenPolls -= 1;
      return { status: 404, body: apiError(404, "TASK_NOT_FOUND", `Task ${taskId} not found`) };
    }
    if (task.status === "initialized") task.status = "received";
    else this.work();
    return { status: 200, body: taskView(task) };
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

  private finish(task: MockTask): void {
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
        pendingPolls: this.state.options.accountPendingPolls,
      });
      task.cloudAccountId = id;
    } else if (task.cloudAccountId !== undefined) {
      this.state.accounts.delete(task.cloudAccountId);
    }
    task.status = "processing-completed";
  }

  /** The account takes the new credentials and stays as it was (active): no new account is made. */
  private finishUpdate(task: MockTask, update: NonNullable<MockTask["update"]>): void {
    const account = this.state.accounts.get(task.cloudAccountId ?? -1);
    const failure = account ? this.updateFailure(account, update) : CLOUD_ACCOUNT_GONE;
    if (failure || !account) {
      task.status = "processing-error";
      task.error = { ...(failure ?? CLOUD_ACCOUNT_GONE), status: "400 BAD_REQUEST" };
      return;
    }
    Object.assign(account, update);
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
  const text = reply.body === undefined ? "" : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...(text ? { "Content-Type": "application/json" } : {}),
    ...reply.headers,
  });
  res.end(text);
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

function redactHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    headers[name] = KEY_HEADERS.has(name) ? REDACTED : String(value);
  }
  return headers;
}

function redactBody(body: unknown): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return body;
  return Object.fromEntries(
    Object.entries(body).map(([field, value]) => [field, SECRET_FIELDS.has(field) ? REDACTED : value]),
  );
}
