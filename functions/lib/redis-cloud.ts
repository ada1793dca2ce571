import { WorkflowError, type WorkflowErrorName } from "./errors.ts";
import type { Target } from "./step.ts";

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

export type TaskStatus =
  | "initialized"
  | "received"
  | "processing-in-progress"
  | "processing-completed"
  | "processing-error";

/** A failed task's error. The spec declares a string; the live API sends an object. */
export interface RedisTaskError {
  type: string;
  status?: string;
  description?: string;
}

export interface Link {
  rel?: string;
  href?: string;
  type?: string;
  title?: string;
}

export interface RedisTask {
  taskId: string;
  commandType?: string;
  /** One of TaskStatus, or a status this client does not know yet. */
  status: TaskStatus | (string & {});
  description?: string;
  timestamp?: string;
  /** On `processing-completed`: the id of the resource the task made (the cloud account). */
  resourceId?: number;
  /** On `processing-error`. */
  error?: RedisTaskError;
  links: Link[];
}

export interface CloudAccount {
  id: number;
  name?: string;
  /** `draft`, `pending`, `active`, `active-error`, … */
  status?: string;
  provider?: string;
  /** The listing may show it masked (e.g. `A***A`). */
  accessKeyId?: string;
  signInLoginUrl?: string;
  awsUserArn?: string;
  awsConsoleRoleArn?: string;
  links: Link[];
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
    const body = await this.request("GET", path);
    // The spec keeps `cloudAccounts` in its example only: accept it, or a bare array.
    const listed = Array.isArray(body) ? body : asObject(body)?.cloudAccounts;
    const items: unknown[] = Array.isArray(listed) ? listed : [];
    return items.flatMap((item) => {
      const account = parseCloudAccount(item);
      return account ? [account] : [];
    });
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

  async getTask(taskId: string): Promise<RedisTask> {
    const path = `/tasks/${encodeURIComponent(taskId)}`;
    return requireTask("GET", path, await this.request("GET", path));
  }

  async deleteCloudAccount(id: number): Promise<RedisTask> {
    const path = `/cloud-accounts/${cloudAccountPath(id)}`;
    return requireTask("DELETE", path, await this.request("DELETE", path));
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

/**
 * The API's error type and description from an error body, in any of the shapes it uses:
 * `{type, status, description}`, `{error: {…}}`, `{status, message}` or `{error: "…"}`.
 * A body that is not JSON (a proxy's HTML page) is not quoted.
 */
function readApiError(text: string, secrets: string[]): { type?: string; description?: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  const outer = asObject(json);
  if (!outer) return {};
  const inner = asObject(outer.error) ?? outer;
  const code =
    typeof outer.error === "string" && /^[A-Z][A-Z0-9_]+$/.test(outer.error) ? outer.error : undefined;
  const type = asString(inner.type) ?? code;
  const description =
    asString(inner.description) ??
    asString(inner.message) ??
    asString(outer.message) ??
    (code === undefined ? asString(outer.error) : undefined);
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

export function parseTask(value: unknown): RedisTask | undefined {
  const body = asObject(value);
  const taskId = asString(body?.taskId);
  if (!body || !taskId) return undefined;
  const response = asObject(body.response);
  const resourceId = asInteger(response?.resourceId);
  const error = parseTaskError(response?.error);
  return omitUndefined({
    taskId,
    commandType: asString(body.commandType),
    status: asString(body.status) ?? "unknown",
    description: asString(body.description),
    timestamp: asString(body.timestamp),
    resourceId,
    error,
    links: parseLinks(body),
  });
}

function parseTaskError(value: unknown): RedisTaskError | undefined {
  if (typeof value === "string" && value !== "") return { type: value };
  const error = asObject(value);
  if (!error) return undefined;
  return omitUndefined({
    type: asString(error.type) ?? "UNKNOWN",
    status: asString(error.status) ?? (typeof error.status === "number" ? String(error.status) : undefined),
    description: asString(error.description) ?? asString(error.message),
  });
}

export function parseCloudAccount(value: unknown): CloudAccount | undefined {
  const body = asObject(value);
  const id = asInteger(body?.id);
  if (!body || id === undefined) return undefined;
  return omitUndefined({
    id,
    name: asString(body.name),
    status: asString(body.status),
    provider: asString(body.provider),
    accessKeyId: asString(body.accessKeyId),
    signInLoginUrl: asString(body.signInLoginUrl),
    awsUserArn: asString(body.awsUserArn),
    awsConsoleRoleArn: asString(body.awsConsoleRoleArn),
    links: parseLinks(body),
  });
}

/** The spec says a `links` array; live answers also carry a `_links` object keyed by relation. */
function parseLinks(body: Record<string, unknown>): Link[] {
  const links: Link[] = [];
  if (Array.isArray(body.links)) {
    for (const item of body.links) {
      const link = asObject(item);
      if (link) links.push(toLink(link, asString(link.rel)));
    }
  }
  const named = asObject(body._links);
  for (const [rel, item] of Object.entries(named ?? {})) {
    const link = asObject(item);
    if (link) links.push(toLink(link, rel));
  }
  return links;
}

function toLink(link: Record<string, unknown>, rel: string | undefined): Link {
  return omitUndefined({
    rel,
    href: asString(link.href),
    type: asString(link.type),
    title: asString(link.title),
  });
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function asString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Ids are int32 in the spec; a numeric string is accepted too. */
function asInteger(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}

function omitUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The account's name at Redis: the input's, else ValidateInput's default. */
export const cloudAccountName = (target: Target): string => target.accountName || `aws-${target.accountId}`;

/** The errors Redis gives a second cloud account with a name or key already registered. */
export const ALREADY_REGISTERED = new Set(["CLOUD_ACCOUNT_ACCESS_KEY_EXISTS", "CLOUD_ACCOUNT_NAME_EXISTS"]);

/**
 * Whether a listed access key is ours. The spec's example shows listed keys masked (`A***A`):
 * a masked key matches when its visible ends do, and is trusted only with the same name.
 */
function maskedMatch(listed: string, ours: string): boolean {
  const masked = /^([^*]*)\*+([^*]*)$/.exec(listed);
  if (!masked) return false;
  const [, head = "", tail = ""] = masked;
  return head.length + tail.length > 0 && ours.startsWith(head) && ours.endsWith(tail);
}

/** The cloud account registered with this access key, if Redis has one. */
export function findCloudAccountOfKey(
  accounts: CloudAccount[],
  accessKeyId: string,
  name: string,
): CloudAccount | undefined {
  return (
    accounts.find((account) => account.accessKeyId === accessKeyId) ??
    accounts.find(
      (account) =>
        account.name === name &&
        account.accessKeyId !== undefined &&
        maskedMatch(account.accessKeyId, accessKeyId),
    )
  );
}

/**
 * After Redis refused a second registration (a concurrent run won the race): the winner's cloud
 * account when it holds our key; otherwise the name or key belongs to someone else.
 */
export async function adoptRegisteredAccount(
  redis: RedisCloud,
  accessKeyId: string,
  name: string,
  refusal: string,
): Promise<CloudAccount> {
  const accounts = await redis.listCloudAccounts();
  const ours = findCloudAccountOfKey(accounts, accessKeyId, name);
  if (ours) return ours;
  const holder = accounts.find((account) => account.name === name);
  const why = holder
    ? `cloud account ${holder.id} is already named "${name}" with another access key; rename or delete it at Redis Cloud, or onboard with another accountName`
    : `no cloud account this API key can see holds access key ${accessKeyId}; it may be registered in another Redis Cloud account`;
  throw new RedisCloudError(
    "RedisCloudConflict",
    `Redis Cloud refused to register cloud account "${name}" (${refusal}): ${why}`,
    409,
    refusal,
  );
}
