import { WorkflowError, type WorkflowErrorName } from "./errors.ts";
import {
  type CloudAccount,
  parseApiError,
  parseCloudAccount,
  parseCloudAccounts,
  parseTask,
  parseTasks,
  type RedisTask,
} from "./redis-cloud-schemas.ts";

export type { CloudAccount, Link, RedisTask, RedisTaskError, TaskStatus } from "./redis-cloud-schemas.ts";

/** The two keys of a Redis Cloud API key: the account's key and the user's secret key. */
export interface RedisApiKeys {
  accountKey: string;
  userKey: string;
}

export interface RedisCloudOptions {
  /** E.g. `https://api.redislabs.com/v1`: paths such as `/cloud-accounts` are appended to it. */
  baseUrl: string;
  keys: RedisApiKeys;
  fetch?: typeof fetch;
  /** A call that takes longer is abandoned as RedisCloudUnavailable. */
  timeoutMs?: number;
  /**
   * Least time between two requests of this function container (0: none). With one container
   * per Redis function (reserved concurrency 1), it caps the whole deployment's request rate.
   */
  minIntervalMs?: number;
}

/** Shared by every client of the container: the pace is the function's, not one client's. */
let nextRequestAt = 0;

async function pace(minIntervalMs: number): Promise<void> {
  if (minIntervalMs <= 0) return;
  const now = Date.now();
  const wait = nextRequestAt - now;
  nextRequestAt = Math.max(now, nextRequestAt) + minIntervalMs;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** What the last response said about the rate limit (400 requests per minute per API key). */
export interface RateLimit {
  /** `X-Rate-Limit-Remaining`: requests left in the current window. */
  remaining?: number;
  /** `Retry-After`, in seconds. */
  retryAfterSeconds?: number;
}

export interface CloudAccountCreateRequest {
  name: string;
  provider: "AWS";
  accessKeyId: string;
  accessSecretKey: string;
  consoleUsername: string;
  consolePassword: string;
  signInLoginUrl: string;
}

/** PUT /cloud-accounts/{id}: the spec's CloudAccountUpdateRequest (a new key, the console's credentials). */
export interface CloudAccountUpdateRequest {
  /** Omitted: the cloud account keeps its name. */
  name?: string;
  accessKeyId: string;
  accessSecretKey: string;
  consoleUsername: string;
  consolePassword: string;
  signInLoginUrl?: string;
}

/**
 * A failed API call. `status` is the HTTP status (absent when no answer came) and `redisType`
 * the API's error type (e.g. `CLOUD_ACCOUNT_NAME_EXISTS`) when it sent one.
 */
export class RedisCloudError extends WorkflowError {
  constructor(
    name: WorkflowErrorName,
    message: string,
    readonly status?: number,
    readonly redisType?: string,
  ) {
    super(name, message);
  }
}

const DEFAULT_TIMEOUT_MS = 20_000;

/** A thin typed client of the few Redis Cloud API endpoints the onboarding uses. */
export class RedisCloud {
  /** Rate headers of the last response, for callers that space their polling. */
  rateLimit: RateLimit = {};

  private readonly baseUrl: string;
  private readonly keys: RedisApiKeys;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly minIntervalMs: number;

  constructor(options: RedisCloudOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 0;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.keys = options.keys;
    this.fetchImpl = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async listCloudAccounts(): Promise<CloudAccount[]> {
    const path = "/cloud-accounts";
    return parseCloudAccounts(await this.request("GET", path));
  }

  async getCloudAccount(id: number): Promise<CloudAccount> {
    const path = `/cloud-accounts/${cloudAccountPath(id)}`;
    const account = parseCloudAccount(await this.request("GET", path));
    if (!account) throw malformed("GET", path, "a cloud account without an id");
    return account;
  }

  async createCloudAccount(request: CloudAccountCreateRequest): Promise<RedisTask> {
    const path = "/cloud-accounts";
    const hidden = [request.accessSecretKey, request.consolePassword];
    return requireTask("POST", path, await this.request("POST", path, request, hidden));
  }

  /** Gives the cloud account new credentials; Redis answers a task, as for a create. */
  async updateCloudAccount(id: number, request: CloudAccountUpdateRequest): Promise<RedisTask> {
    const path = `/cloud-accounts/${cloudAccountPath(id)}`;
    const hidden = [request.accessSecretKey, request.consolePassword];
    return requireTask("PUT", path, await this.request("PUT", path, request, hidden));
  }

  /** The account's tasks; an entry without a task id is skipped, never fatal. */
  async listTasks(): Promise<RedisTask[]> {
    const path = "/tasks";
    return parseTasks(await this.request("GET", path));
  }

  async getTask(taskId: string): Promise<RedisTask> {
    const path = `/tasks/${encodeURIComponent(taskId)}`;
    return requireTask("GET", path, await this.request("GET", path));
  }

  async deleteCloudAccount(id: number): Promise<RedisTask> {
    const path = `/cloud-accounts/${cloudAccountPath(id)}`;
    return requireTask("DELETE", path, await this.request("DELETE", path));
  }

  // --- Offboarding ---
  /** The account's subscriptions, each with the cloud account ids its cloud details name. */
  async listSubscriptions(): Promise<{ id: number; cloudAccountIds: number[] }[]> {
    return parseSubscriptions(await this.request("GET", "/subscriptions"));
  }

  /**
   * One call. The keys and the body go only into the request: an error names the method, the path,
   * the status and the API's error type and description, with any secret it might echo masked.
   */
  private async request(method: string, path: string, body?: object, hidden: string[] = []) {
    const secrets = [this.keys.accountKey, this.keys.userKey, ...hidden];
    let response: Response;
    let text: string;
    await pace(this.minIntervalMs);
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers: {
          accept: "application/json",
          "x-api-key": this.keys.accountKey,
          "x-api-secret-key": this.keys.userKey,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        // Following a redirect would send the keys to wherever it points.
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      this.rateLimit = readRateLimit(response.headers);
      text = await response.text();
    } catch (error) {
      throw new RedisCloudError(
        "RedisCloudUnavailable",
        `Redis Cloud API ${method} ${path}: no answer (${networkCause(error)})`,
      );
    }
    if (response.status >= 200 && response.status < 300) {
      if (text.trim() === "") return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new RedisCloudError(
          "RedisCloudUnavailable",
          `Redis Cloud API ${method} ${path} answered ${response.status} with a body that is not JSON`,
          response.status,
        );
      }
    }
    throw httpError(method, path, response.status, readApiError(text, secrets), this.rateLimit);
  }
}

/** What an HTTP status means for the workflow. */
export function redisErrorName(status: number): WorkflowErrorName {
  if (status === 401 || status === 403) return "RedisCloudUnauthorized";
  if (status === 404) return "RedisCloudNotFound";
  if (status === 409) return "RedisCloudConflict";
  if (status === 408 || status === 429 || status >= 500) return "RedisCloudUnavailable";
  if (status >= 300 && status < 400) return "ConfigurationError";
  return "RedisCloudRejected";
}

function httpError(
  method: string,
  path: string,
  status: number,
  api: { type?: string; description?: string },
  rate: RateLimit,
): RedisCloudError {
  const name = redisErrorName(status);
  const said = [api.type, api.description].filter(Boolean).join(": ");
  let message = `Redis Cloud API ${method} ${path} answered ${status}${said ? ` (${said})` : ""}`;
  if (name === "RedisCloudUnauthorized") {
    message += `; check the API keys in the Redis Cloud API keys secret (setting REDIS_API_KEYS_SECRET) and that the API key's CIDR allow-list admits this function's outbound IP`;
  } else if (name === "RedisCloudUnavailable" && rate.retryAfterSeconds !== undefined) {
    message += `; retry after ${rate.retryAfterSeconds} s`;
  } else if (name === "ConfigurationError") {
    message += "; the API redirected elsewhere: check setting REDIS_CLOUD_API_URL";
  }
  return new RedisCloudError(name, message, status, api.type);
}

const MAX_DESCRIPTION = 300;

/** The API's error type and description, with any secret it might echo masked. */
function readApiError(text: string, secrets: string[]): { type?: string; description?: string } {
  const { type, description } = parseApiError(text);
  return {
    ...(type ? { type: clean(type, secrets).slice(0, 100) } : {}),
    ...(description ? { description: clean(description, secrets).slice(0, MAX_DESCRIPTION) } : {}),
  };
}

/** Masks any secret the API might echo back, and keeps the text on one line. */
function clean(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join("***");
  return out.replace(/\s+/g, " ").trim();
}

function readRateLimit(headers: Headers): RateLimit {
  const rate: RateLimit = {};
  const remaining = Number.parseInt(headers.get("x-rate-limit-remaining") ?? "", 10);
  if (Number.isFinite(remaining) && remaining >= 0) rate.remaining = remaining;
  const retryAfter = parseRetryAfter(headers.get("retry-after"));
  if (retryAfter !== undefined) rate.retryAfterSeconds = retryAfter;
  return rate;
}

/** `Retry-After` is either seconds or an HTTP date. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number.parseInt(value, 10);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** A network failure's code (ECONNREFUSED, TimeoutError…): never its message, which may quote the URL. */
function networkCause(error: unknown): string {
  if (!(error instanceof Error)) return "network error";
  const cause = (error as { cause?: { code?: unknown } }).cause;
  if (typeof cause?.code === "string") return cause.code;
  return error.name === "TypeError" ? "network error" : error.name;
}

function cloudAccountPath(id: number): string {
  if (!Number.isSafeInteger(id) || id < 0) {
    throw new WorkflowError("UnexpectedError", `not a cloud account id: ${String(id)}`);
  }
  return String(id);
}

function malformed(method: string, path: string, what: string): WorkflowError {
  return new WorkflowError("UnexpectedError", `Redis Cloud API ${method} ${path} answered ${what}`);
}

function requireTask(method: string, path: string, body: unknown): RedisTask {
  const task = parseTask(body);
  if (!task) throw malformed(method, path, "no task id");
  return task;
}

// --- Offboarding ---
/** GET /v1/subscriptions: `subscriptions[].cloudDetails[].cloudAccountId`; anything else ignored. */
function parseSubscriptions(body: unknown): { id: number; cloudAccountIds: number[] }[] {
  const list = (body as { subscriptions?: unknown } | undefined)?.subscriptions;
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry) => {
    const sub = entry as { id?: unknown; cloudDetails?: unknown };
    if (typeof sub.id !== "number") return [];
    const details = Array.isArray(sub.cloudDetails) ? sub.cloudDetails : [];
    const cloudAccountIds = details.flatMap((d) => {
      const id = (d as { cloudAccountId?: unknown }).cloudAccountId;
      return typeof id === "number" ? [id] : [];
    });
    return [{ id: sub.id, cloudAccountIds }];
  });
}
