import * as z from "zod";
import { WorkflowError } from "./errors.ts";

/** The two managed policies of Redis's procedure; the console role gets one of them. */
export const INSTANCE_POLICY_NAME = "RedisLabsInstanceRolePolicy";
export const USER_POLICY_NAME = "RedislabsIAMUserRestrictedPolicy";
export const NODE_ROLE_NAME = "redislabs-cluster-node-role";
export const USER_NAME = "redislabs-user";
export const CONSOLE_ROLE_NAME = "redislabs-role";
export const REDIS_AWS_ACCOUNT_ID = "168085023892";

type Env = Record<string, string | undefined>;

/*
 * Every setting of every function, once: its environment variable, its rule and its default.
 * A function reads the settings it needs with `readSettings` at cold start; a missing or bad one
 * stops it with ConfigurationError naming the variable. A blank value counts as unset.
 */

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const SECRET_ID = /^([\w/+=.@-]{1,512}|arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]{1,512})$/;
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
export const OU_ID = /^ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$/;
/** DynamoDB's rule for table names. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;
const stateMachineArn = () => z.string().regex(STATE_MACHINE_ARN, "must be a state machine ARN");

export const VENDING_SOURCES = ["controltower", "organizations"] as const;
export type VendingSource = (typeof VENDING_SOURCES)[number];

const csv = <T extends string>(rule: z.ZodType<T>, problem: string) =>
  z
    .string()
    .transform((value) =>
      value
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
    )
    // The items are strings already; only the rule's output type matters here.
    .pipe(z.array(rule, { error: problem }) as unknown as z.ZodType<T[], string[]>);

/** Redis's API keys travel in headers: https, or plain http to this machine only. */
const apiUrl = z.string().transform((raw, ctx) => {
  const url = URL.parse(raw);
  if (url === null) {
    ctx.addIssue({ code: "custom", message: "must be an absolute URL such as https://api.redislabs.com/v1" });
    return z.NEVER;
  }
  const local = url.protocol === "http:" && LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== "https:" && !local) {
    ctx.addIssue({ code: "custom", message: "must use https (http only for 127.0.0.1 or localhost)" });
  } else if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    ctx.addIssue({ code: "custom", message: "must not carry credentials, a query or a fragment" });
  }
  return url.href.replace(/\/+$/, "");
});

const LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL", "SILENT"] as const;

interface Setting<T> {
  env: string;
  schema: z.ZodType<T, string>;
  /** Absent: the setting is required. */
  fallback?: string;
}

/** A whole number in [min, max], written as digits. */
const intBetween = (min: number, max: number, problem: string) =>
  z
    .string()
    .regex(/^\d{1,6}$/, problem)
    .transform(Number)
    .refine((n) => n >= min && n <= max, problem);

const setting = <T>(env: string, schema: z.ZodType<T, string>, fallback?: string): Setting<T> =>
  fallback === undefined ? { env, schema } : { env, schema, fallback };

export const SETTINGS = {
  /** Powertools reads it too, but falls back to INFO silently: a typo must fail instead. */
  logLevel: setting(
    "POWERTOOLS_LOG_LEVEL",
    z
      .string()
      .transform((level) => level.toUpperCase())
      .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` })),
    "INFO",
  ),
  /** Secrets are named `<prefix><accountId>`; the functions may only touch this prefix. */
  secretNamePrefix: setting(
    "SECRET_NAME_PREFIX",
    z.string().regex(/^[\w/+=.@-]{1,400}\/$/, "must be a Secrets Manager name path ending with '/'"),
    "redis-cloud/byoc/",
  ),
  /**
   * The stack's customer-managed KMS key for the credentials secrets; unset (local runs): the
   * account's default key for Secrets Manager.
   */
  credentialsKeyArn: setting(
    "CREDENTIALS_KEY_ARN",
    z.string().regex(/^(arn:aws[\w-]*:kms:[\w-]+:\d{12}:key\/[\w-]+)?$/, "must be a KMS key ARN"),
    "",
  ),
  /**
   * The only principals that may read a credentials secret (its resource policy denies everyone
   * else): the product's functions that read it, and the optional reader role.
   */
  secretReaderArns: setting(
    "SECRET_READER_ARNS",
    csv(
      z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/),
      "must be a comma-separated list of IAM role ARNs",
    ),
    "",
  ),
  /** Policy attached to `redislabs-role` (Redis corrected its docs back to the user policy). */
  consoleRolePolicyName: setting(
    "CONSOLE_ROLE_POLICY",
    z.enum([USER_POLICY_NAME, INSTANCE_POLICY_NAME], {
      error: `must be ${USER_POLICY_NAME} or ${INSTANCE_POLICY_NAME}`,
    }),
    USER_POLICY_NAME,
  ),
  /** The only role names the functions may assume; the deployment's IAM grants exactly these. */
  allowedTargetRoleNames: setting(
    "TARGET_ROLE_NAMES",
    csv(z.string().regex(ROLE_NAME), "must be a comma-separated list of IAM role names").refine(
      (names) => names.length > 0,
      "must be a comma-separated list of IAM role names",
    ),
    "OrganizationAccountAccessRole,AWSControlTowerExecution",
  ),
  /** Role assumed in a target account when the input names none (one of TARGET_ROLE_NAMES). */
  defaultTargetRoleName: setting(
    "DEFAULT_TARGET_ROLE",
    z.string().regex(ROLE_NAME),
    "OrganizationAccountAccessRole",
  ),
  /** Name or ARN of the secret holding `{"accountKey": "…", "userKey": "…"}`. */
  apiKeysSecret: setting(
    "REDIS_API_KEYS_SECRET",
    z.string().regex(SECRET_ID, "must be a Secrets Manager secret name or ARN"),
  ),
  /** Base URL of the Redis Cloud API, without a trailing slash. */
  apiUrl: setting("REDIS_CLOUD_API_URL", apiUrl, "https://api.redislabs.com/v1"),
  /** The onboarding state machine the starters start. */
  stateMachineArn: setting("STATE_MACHINE_ARN", stateMachineArn()),
  /** The registrar's queue (DynamoDB); no default: a wrong table must not be written silently. */
  registrarTableName: setting(
    "REGISTRAR_TABLE_NAME",
    z.string().regex(TABLE_NAME, "must be a DynamoDB table name (3-255 letters, digits, '_', '-', '.')"),
  ),
  /** The registrar's loop, which the hand-over starts when none runs. */
  registrarStateMachineArn: setting("REGISTRAR_STATE_MACHINE_ARN", stateMachineArn()),
  /**
   * Redis Cloud requests the registrar sends in any 60 s: Redis allows 400 per API key; the rest
   * is headroom for people and tools using the same key.
   */
  redisRequestsPerMinute: setting(
    "REDIS_REQUESTS_PER_MINUTE",
    intBetween(1, 400, "must be 1 to 400 (Redis's limit per API key)"),
    "360",
  ),
  /** The registrar's tasks at Redis at once (Redis works one at a time; one more keeps it busy). */
  registrarMaxInFlight: setting("REGISTRAR_MAX_IN_FLIGHT", intBetween(1, 10, "must be 1 to 10"), "2"),
  /** Which account-vending events start onboardings. */
  vendingSources: setting(
    "VENDING_SOURCES",
    csv(z.enum(VENDING_SOURCES), `must be a comma-separated list of ${VENDING_SOURCES.join(", ")}`).refine(
      (sources) => sources.length > 0,
      `must be a comma-separated list of ${VENDING_SOURCES.join(", ")}`,
    ),
    VENDING_SOURCES.join(","),
  ),
  controlTowerRoleName: setting(
    "CONTROL_TOWER_ROLE_NAME",
    z.string().regex(ROLE_NAME, "must be an IAM role name"),
    "AWSControlTowerExecution",
  ),
  organizationsRoleName: setting(
    "ORGANIZATIONS_ROLE_NAME",
    z.string().regex(ROLE_NAME, "must be an IAM role name"),
    "OrganizationAccountAccessRole",
  ),
  /** The account registry's DynamoDB table; no default: a wrong table must not be written silently. */
  registryTableName: setting(
    "REGISTRY_TABLE_NAME",
    z.string().regex(TABLE_NAME, "must be a DynamoDB table name (3-255 letters, digits, '_', '-', '.')"),
  ),
  /** Empty: every OU. */
  allowedOuIds: setting(
    "ALLOWED_OU_IDS",
    csv(z.string().regex(OU_ID), "must be a comma-separated list of OU ids (ou-xxxx-yyyyyyyy)"),
    "",
  ),
  /**
   * Accounts any start may onboard, besides those of ALLOWED_OU_IDS (an account passes if either
   * list admits it). Both empty: every account.
   */
  allowedAccountIds: setting(
    "ALLOWED_ACCOUNT_IDS",
    csv(
      z.string().regex(/^\d{12}$/, "must be a comma-separated list of 12-digit account ids"),
      "must be a comma-separated list of 12-digit account ids",
    ),
    "",
  ),
  // --- Credential rotation ---
  /** The rotation state machine, which the schedule's starter and POST /accounts/{id}/rotations start. */
  rotationStateMachineArn: setting("ROTATION_STATE_MACHINE_ARN", stateMachineArn()),
  // --- Reconcile and event storms ---
  /**
   * A vending event for an account that is active and was reconciled clean within these hours
   * starts no onboarding (0: every event starts as before).
   */
  stormWindowHours: setting("STORM_WINDOW_HOURS", intBetween(0, 8_760, "must be 0 to 8760 hours"), "24"),
  // --- Bulk onboarding (functions/bulk-plan.ts) ---
  /**
   * Onboardings a bulk run keeps going at once (its Distributed Map's MaxConcurrency). Each waits
   * its turn at the registrar, whose hand-over waits at most 36 h: 1,000 onboardings of Redis's
   * slowest measured task (120 s) wait 33 h, hence the cap.
   */
  bulkConcurrency: setting("BULK_CONCURRENCY", intBetween(1, 1000, "must be 1 to 1000"), "50"),
  /** The bulk onboarding state machine the HTTP API starts. */
  bulkStateMachineArn: setting("BULK_STATE_MACHINE_ARN", stateMachineArn()),
  // --- Offboarding ---
  /** Days Secrets Manager keeps an offboarded account's credentials secret before deleting it. */
  secretRecoveryDays: setting(
    "SECRET_RECOVERY_DAYS",
    intBetween(7, 30, "must be 7 to 30 (Secrets Manager's recovery window)"),
    "7",
  ),
  /** The offboarding state machine, which the offboarding starters start. */
  offboardingStateMachineArn: setting("OFFBOARDING_STATE_MACHINE_ARN", stateMachineArn()),
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;
export type SettingsOf<K extends SettingName> = {
  [P in K]: Settings[P] extends Setting<infer T> ? T : never;
};
/** The settings every deployment shares, all with defaults: what local runs hand the steps. */
const SHARED = [
  "logLevel",
  "secretNamePrefix",
  "credentialsKeyArn",
  "secretReaderArns",
  "consoleRolePolicyName",
  "allowedTargetRoleNames",
  "defaultTargetRoleName",
  // Empty by default (every account): local runs pass AuthorizeTarget without Organizations.
  "allowedAccountIds",
  "allowedOuIds",
  // --- Offboarding ---
  "secretRecoveryDays",
] as const satisfies readonly SettingName[];
export type Config = SettingsOf<(typeof SHARED)[number]>;

const bad = (name: string, problem: string): WorkflowError =>
  new WorkflowError("ConfigurationError", `setting ${name}: ${problem}`);

/** Reads and checks the named settings once; a bad one stops the function, by name. */
export function readSettings<K extends SettingName>(keys: readonly K[], env: Env): SettingsOf<K> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const { env: name, schema, fallback } = SETTINGS[key] as Setting<unknown>;
    const raw = env[name]?.trim() || fallback;
    if (raw === undefined) throw bad(name, "is required");
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw bad(name, parsed.error.issues[0]?.message ?? "is not valid");
    out[key] = parsed.data;
  }
  checkTogether(out as Partial<Config>);
  return out as SettingsOf<K>;
}

/** Rules that tie two settings: the roles the deployment may assume bound every other role. */
function checkTogether(config: Partial<SettingsOf<SettingName>>): void {
  const allowed = config.allowedTargetRoleNames;
  if (allowed === undefined) return;
  const mustBeAllowed = [
    ["defaultTargetRoleName", "DEFAULT_TARGET_ROLE"],
    ...(config.vendingSources?.includes("controltower")
      ? [["controlTowerRoleName", "CONTROL_TOWER_ROLE_NAME"]]
      : []),
    ...(config.vendingSources?.includes("organizations")
      ? [["organizationsRoleName", "ORGANIZATIONS_ROLE_NAME"]]
      : []),
  ] as const;
  for (const [key, name] of mustBeAllowed) {
    const role = config[key as "defaultTargetRoleName"];
    if (role !== undefined && !allowed.includes(role)) throw bad(name, "must be one of TARGET_ROLE_NAMES");
  }
}

/** The shared settings, with the deployment's defaults for what `env` leaves unset. */
export function loadConfig(env: Env): Config {
  return readSettings(SHARED, env);
}

/** The settings of the step that writes the credentials secrets. */
export const SECRET_SETTINGS = ["secretNamePrefix", "credentialsKeyArn", "secretReaderArns"] as const;

/** The settings of the steps that act in target accounts (and record what they do in the registry). */
export const TARGET_SETTINGS = [
  "logLevel",
  "defaultTargetRoleName",
  "allowedTargetRoleNames",
  "registryTableName",
] as const;
/** The settings of the steps that only read and write the account registry. */
export const REGISTRY_SETTINGS = ["logLevel", "registryTableName"] as const;
/** The settings of the registrar's hand-over and loop. */
export const REGISTRAR_SETTINGS = [
  "logLevel",
  "registrarTableName",
  "registrarStateMachineArn",
  "registryTableName",
] as const;
/** The settings of the steps that call Redis Cloud. */
export const REDIS_SETTINGS = ["logLevel", "apiKeysSecret", "apiUrl"] as const;
