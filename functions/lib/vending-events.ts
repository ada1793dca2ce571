import type { Config } from "./config.ts";
import { invalidInput, WorkflowError } from "./errors.ts";
import type { VendingSource } from "./executions.ts";

/*
 * Account-vending events, as EventBridge delivers them from CloudTrail. The envelope's `account`
 * is where the event was recorded (the management account), never the new account: that one is
 * only in the service event's details.
 */

const DETAIL_TYPE = "AWS Service Event via CloudTrail";

/** Where each lifecycle event keeps its status, by source and event name. */
const STATUS_KEYS: Record<string, { source: VendingSource; statusKey: string }> = {
  "aws.controltower/CreateManagedAccount": {
    source: "controltower",
    statusKey: "createManagedAccountStatus",
  },
  // A retried vending is recorded as an update: it onboards like a create.
  "aws.controltower/UpdateManagedAccount": {
    source: "controltower",
    statusKey: "updateManagedAccountStatus",
  },
  // Only in us-east-1, for every account made with Organizations' CreateAccount.
  "aws.organizations/CreateAccountResult": { source: "organizations", statusKey: "createAccountStatus" },
};

export interface VendedAccount {
  source: VendingSource;
  eventName: string;
  accountId: string;
  accountName?: string;
  /** Control Tower only: the OU the account was enrolled in. */
  organizationalUnitId?: string;
}

export type Reading = { kind: "account"; account: VendedAccount } | { kind: "ignored"; reason: string };

/** Lifecycle states AWS sends; any other value is not repeated in a log line. */
const KNOWN_STATES = new Set(["SUCCEEDED", "FAILED", "IN_PROGRESS", "missing"]);

/**
 * The vended account of a SUCCEEDED lifecycle event. Any other event is ignored (the rules'
 * patterns already filter them; this is the second line). A SUCCEEDED vending event without a
 * valid account id is not ignored but refused: the event format changed, and the event must land
 * in the dead-letter queue for someone to look at, not vanish.
 */
export function readVendingEvent(event: unknown): Reading {
  const envelope = record(event);
  const detail = record(envelope.detail);
  const eventName = text(detail.eventName) ?? "";
  const known = STATUS_KEYS[`${text(envelope.source)}/${eventName}`];
  if (!known || envelope["detail-type"] !== DETAIL_TYPE) {
    return { kind: "ignored", reason: "not an account-vending event" };
  }
  const status = record(record(detail.serviceEventDetails)[known.statusKey]);
  const state = text(status.state) ?? "missing";
  if (state !== "SUCCEEDED") {
    // Logged: name the state only when it is one AWS sends.
    const shown = KNOWN_STATES.has(state) ? state : "not SUCCEEDED";
    return { kind: "ignored", reason: `${eventName} state is ${shown}` };
  }
  return { kind: "account", account: vendedAccount(known.source, eventName, status) };
}

function vendedAccount(source: VendingSource, eventName: string, status: Record<string, unknown>) {
  // Control Tower nests the account; Organizations puts its fields on the status itself.
  const account = source === "controltower" ? record(status.account) : status;
  const accountId = text(account.accountId);
  if (accountId === undefined || !/^\d{12}$/.test(accountId)) {
    throw invalidInput(`${eventName} event`, "a SUCCEEDED event without a 12-digit account id");
  }
  const vended: VendedAccount = { source, eventName, accountId };
  const accountName = text(account.accountName);
  // CloudTrail masks the name of a CreateAccountResult as "****": no name beats a wrong one.
  if (accountName !== undefined && !/^\**$/.test(accountName)) vended.accountName = accountName;
  const ou = text(record(status.organizationalUnit).organizationalUnitId);
  if (ou !== undefined) vended.organizationalUnitId = ou;
  return vended;
}

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

// ---------------------------------------------------------------------------------------------
// Settings and the decision
// ---------------------------------------------------------------------------------------------

export interface VendingSettings {
  /** Sources whose events start onboardings. */
  sources: VendingSource[];
  /** The role assumed in the new account, by source. */
  roleNames: Record<VendingSource, string>;
  /** Control Tower OUs whose accounts are onboarded; empty: every OU. */
  allowedOuIds: string[];
}

const SOURCES: VendingSource[] = ["controltower", "organizations"];
const OU_ID = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;

type Env = Record<string, string | undefined>;

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");

const bad = (name: string, problem: string) =>
  new WorkflowError("ConfigurationError", `setting ${name}: ${problem}`);

/**
 * Read once at cold start. The roles must be among TARGET_ROLE_NAMES, or every run this function
 * starts would fail its first state: better to fail here, by name.
 */
export function loadVendingSettings(
  env: Env,
  config: Pick<Config, "allowedTargetRoleNames">,
): VendingSettings {
  const sources = list(env.VENDING_SOURCES ?? SOURCES.join(","));
  const unknown = sources.find((source) => !SOURCES.includes(source as VendingSource));
  if (unknown !== undefined || sources.length === 0) {
    throw bad("VENDING_SOURCES", `must be a comma-separated list of ${SOURCES.join(", ")}`);
  }
  const roleNames = {
    controltower: env.CONTROL_TOWER_ROLE_NAME?.trim() || "AWSControlTowerExecution",
    organizations: env.ORGANIZATIONS_ROLE_NAME?.trim() || "OrganizationAccountAccessRole",
  };
  for (const [source, setting] of [
    ["controltower", "CONTROL_TOWER_ROLE_NAME"],
    ["organizations", "ORGANIZATIONS_ROLE_NAME"],
  ] as const) {
    if (sources.includes(source) && !config.allowedTargetRoleNames.includes(roleNames[source])) {
      throw bad(setting, "must be one of TARGET_ROLE_NAMES");
    }
  }
  const allowedOuIds = list(env.ALLOWED_OU_IDS);
  if (allowedOuIds.some((id) => !OU_ID.test(id))) {
    throw bad("ALLOWED_OU_IDS", "must be a comma-separated list of OU ids (ou-xxxx-yyyyyyyy)");
  }
  return { sources: sources as VendingSource[], roleNames, allowedOuIds };
}

export type Decision =
  | { kind: "start"; accountId: string; roleName: string; accountName?: string }
  | { kind: "ignored"; reason: string };

/**
 * Whether this deployment onboards the vended account, and with which role. An OU allow-list
 * admits only Control Tower accounts of those OUs: an Organizations event names no OU (the account
 * lands in the root), so with a list set it starts nothing rather than bypass the list.
 */
export function decide(account: VendedAccount, settings: VendingSettings): Decision {
  if (!settings.sources.includes(account.source)) {
    return { kind: "ignored", reason: `${account.source} events are not enabled (VENDING_SOURCES)` };
  }
  if (settings.allowedOuIds.length > 0) {
    const ou = account.organizationalUnitId;
    if (ou === undefined || !settings.allowedOuIds.includes(ou)) {
      const shown = ou === undefined ? "(none)" : OU_ID.test(ou) ? ou : "(not an OU id)";
      return { kind: "ignored", reason: `OU ${shown} is not in ALLOWED_OU_IDS` };
    }
  }
  return {
    kind: "start",
    accountId: account.accountId,
    roleName: settings.roleNames[account.source],
    ...(account.accountName === undefined ? {} : { accountName: account.accountName }),
  };
}
