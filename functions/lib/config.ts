import { WorkflowError } from "./errors.ts";

/** The two managed policies of Redis's procedure; the console role gets one of them. */
export const INSTANCE_POLICY_NAME = "RedisLabsInstanceRolePolicy";
export const USER_POLICY_NAME = "RedislabsIAMUserRestrictedPolicy";
export const NODE_ROLE_NAME = "redislabs-cluster-node-role";
export const USER_NAME = "redislabs-user";
export const CONSOLE_ROLE_NAME = "redislabs-role";
export const REDIS_AWS_ACCOUNT_ID = "168085023892";

export interface Config {
  /** Secrets are named `<prefix><accountId>`; the functions may only touch this prefix. */
  secretNamePrefix: string;
  /** Policy attached to `redislabs-role` (Redis corrected its docs back to the user policy). */
  consoleRolePolicyName: typeof INSTANCE_POLICY_NAME | typeof USER_POLICY_NAME;
  /** Role assumed in a target account when the input names none. */
  defaultTargetRoleName: string;
  /** The only role names the functions may assume; the deployment's IAM grants exactly these. */
  allowedTargetRoleNames: string[];
}

type Env = Record<string, string | undefined>;

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const SECRET_PREFIX = /^[\w/+=.@-]{1,400}\/$/;

function setting(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? fallback : value;
}

function bad(name: string, problem: string): WorkflowError {
  return new WorkflowError("ConfigurationError", `setting ${name}: ${problem}`);
}

/** Reads and checks every setting once; a bad one stops the function at cold start, by name. */
export function loadConfig(env: Env): Config {
  const secretNamePrefix = setting(env, "SECRET_NAME_PREFIX", "redis-cloud/byoc/");
  if (!SECRET_PREFIX.test(secretNamePrefix)) {
    throw bad("SECRET_NAME_PREFIX", "must be a Secrets Manager name path ending with '/'");
  }
  const consoleRolePolicyName = setting(env, "CONSOLE_ROLE_POLICY", USER_POLICY_NAME);
  if (consoleRolePolicyName !== USER_POLICY_NAME && consoleRolePolicyName !== INSTANCE_POLICY_NAME) {
    throw bad("CONSOLE_ROLE_POLICY", `must be ${USER_POLICY_NAME} or ${INSTANCE_POLICY_NAME}`);
  }
  const allowedTargetRoleNames = setting(
    env,
    "TARGET_ROLE_NAMES",
    "OrganizationAccountAccessRole,AWSControlTowerExecution",
  )
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const invalidRole = allowedTargetRoleNames.find((name) => !ROLE_NAME.test(name));
  if (invalidRole !== undefined || allowedTargetRoleNames.length === 0) {
    throw bad("TARGET_ROLE_NAMES", "must be a comma-separated list of IAM role names");
  }
  const defaultTargetRoleName = setting(env, "DEFAULT_TARGET_ROLE", "OrganizationAccountAccessRole");
  if (!allowedTargetRoleNames.includes(defaultTargetRoleName)) {
    throw bad("DEFAULT_TARGET_ROLE", "must be one of TARGET_ROLE_NAMES");
  }
  return {
    secretNamePrefix,
    consoleRolePolicyName,
    defaultTargetRoleName,
    allowedTargetRoleNames,
  };
}

/** Where the Redis Cloud API is and which secret holds its keys. */
export interface RedisCloudConfig {
  /** Name or ARN of the secret holding `{"accountKey": "…", "userKey": "…"}`. */
  apiKeysSecret: string;
  /** Base URL of the API, without a trailing slash; paths such as `/cloud-accounts` follow it. */
  apiUrl: string;
}

const SECRET_ID = /^([\w/+=.@-]{1,512}|arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]{1,512})$/;
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Settings of the Redis Cloud steps, checked the way loadConfig checks its own. The URL must be
 * https: the API keys travel in headers. Plain http is only for a local API on this machine.
 */
export function loadRedisCloudConfig(env: Env): RedisCloudConfig {
  const apiKeysSecret = setting(env, "REDIS_API_KEYS_SECRET", "");
  if (apiKeysSecret === "") {
    throw bad("REDIS_API_KEYS_SECRET", "is required: the name or ARN of the API keys secret");
  }
  if (!SECRET_ID.test(apiKeysSecret)) {
    throw bad("REDIS_API_KEYS_SECRET", "must be a Secrets Manager secret name or ARN");
  }
  const raw = setting(env, "REDIS_CLOUD_API_URL", "https://api.redislabs.com/v1");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad("REDIS_CLOUD_API_URL", "must be an absolute URL such as https://api.redislabs.com/v1");
  }
  const local = url.protocol === "http:" && LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== "https:" && !local) {
    throw bad("REDIS_CLOUD_API_URL", "must use https (http only for 127.0.0.1 or localhost)");
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw bad("REDIS_CLOUD_API_URL", "must not carry credentials, a query or a fragment");
  }
  return { apiKeysSecret, apiUrl: url.href.replace(/\/+$/, "") };
}
