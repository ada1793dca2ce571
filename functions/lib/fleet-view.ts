import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { fromItem } from "./registry.ts";
import { ACCOUNT_ID } from "./step.ts";

/*
 * The fleet as its owners read it: one row per registry item, projected field by field. The
 * registry is read loosely on purpose: a status or attribute a later release writes (offboarding,
 * drift, reconciledAt) shows as it is stored, and a malformed item shows its account rather than
 * failing the whole page. Only the fields named here leave: an item is never echoed raw.
 */

/** What a reconcile found different from what the product holds (kind: what sort of difference). */
export interface DriftSummary {
  count: number;
  /** The distinct kinds, sorted. */
  kinds: string[];
}

export interface AccountRow {
  accountId: string;
  /** As stored: onboarding, active, failed, or any status a later release adds. */
  status: string;
  cloudAccountId: number | null;
  lastExecution: string | null;
  /** running, succeeded, failed (or a later outcome). */
  lastOutcome: string | null;
  drift: DriftSummary;
  reconciledAt: string | null;
}

export interface DriftEntry {
  kind: string;
  resource: string;
  detail: string;
}

/** One account in full: the row, when and by whom the last run began, and what the product holds. */
export interface AccountView extends AccountRow {
  lastError: string | null;
  startedBy: string | null;
  startedAt: string | null;
  updatedAt: string | null;
  /** Ids and ARNs only: the key's secret is in Secrets Manager, never in the registry. */
  accessKeyId: string | null;
  secretArn: string | null;
  /** Each resource the product created, modified or adopted, by type and origin. */
  resources: { type: string; origin: string }[];
  driftFound: DriftEntry[];
}

const str = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);
const num = (value: unknown): number | null => (typeof value === "number" ? value : null);

function driftEntries(value: unknown): DriftEntry[] {
  if (!Array.isArray(value)) return [];
  return value.map((entry) => {
    const { kind, resource, detail } = (entry ?? {}) as Record<string, unknown>;
    return { kind: str(kind) ?? "unknown", resource: str(resource) ?? "", detail: str(detail) ?? "" };
  });
}

/** The row of one stored item (plain JSON, as `fromItem` gives it). */
export function accountRow(item: Record<string, unknown>): AccountRow {
  const drift = driftEntries(item.drift);
  return {
    accountId: str(item.accountId) ?? "",
    status: str(item.status) ?? "unknown",
    cloudAccountId: num(item.cloudAccountId),
    lastExecution: str(item.lastExecution),
    lastOutcome: str(item.lastOutcome),
    drift: { count: drift.length, kinds: [...new Set(drift.map((d) => d.kind))].sort() },
    reconciledAt: str(item.reconciledAt),
  };
}

export function accountView(item: Record<string, unknown>): AccountView {
  const resources = Array.isArray(item.resources) ? item.resources : [];
  return {
    ...accountRow(item),
    lastError: str(item.lastError),
    startedBy: str(item.startedBy),
    startedAt: str(item.startedAt),
    updatedAt: str(item.updatedAt),
    accessKeyId: str(item.accessKeyId),
    secretArn: str(item.secretArn),
    resources: resources.map((entry) => {
      const { change, origin } = (entry ?? {}) as { change?: { type?: unknown }; origin?: unknown };
      return { type: str(change?.type) ?? "unknown", origin: str(origin) ?? "unknown" };
    }),
    driftFound: driftEntries(item.drift),
  };
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 100;

/** A page token the caller cannot read meaning into: the scan's last key, base64url JSON. */
export function encodeToken(lastKey: Record<string, AttributeValue>): string {
  return Buffer.from(JSON.stringify(lastKey), "utf8").toString("base64url");
}

/** The scan's start key from a token this API gave; undefined when it is not one. */
export function decodeToken(token: string): Record<string, AttributeValue> | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) return undefined;
  try {
    const key = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    const { accountId, ...rest } = (key ?? {}) as { accountId?: { S?: unknown } };
    if (Object.keys(rest).length > 0 || typeof accountId?.S !== "string") return undefined;
    if (Object.keys(accountId).length !== 1 || !ACCOUNT_ID.test(accountId.S)) return undefined;
    return { accountId: { S: accountId.S } };
  } catch {
    return undefined;
  }
}

export interface FleetPage {
  accounts: AccountRow[];
  nextToken?: string;
}

/** One page of the registry: `limit` items at most, from where `start` says the last page ended. */
export async function scanFleet(
  client: DynamoDBClient,
  table: string,
  page: { limit: number; start?: Record<string, AttributeValue> | undefined },
): Promise<FleetPage> {
  const answer = await client.send(
    new ScanCommand({
      TableName: table,
      Limit: page.limit,
      ...(page.start ? { ExclusiveStartKey: page.start } : {}),
    }),
  );
  const accounts = (answer.Items ?? []).map((item) => accountRow(fromItem(item)));
  accounts.sort((a, b) => a.accountId.localeCompare(b.accountId));
  return {
    accounts,
    ...(answer.LastEvaluatedKey ? { nextToken: encodeToken(answer.LastEvaluatedKey) } : {}),
  };
}

/** Every account, page after page (the command line's --status --live). */
export async function scanWholeFleet(client: DynamoDBClient, table: string): Promise<AccountRow[]> {
  const rows: AccountRow[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await scanFleet(client, table, { limit: MAX_PAGE, start });
    rows.push(...page.accounts);
    start = page.nextToken ? decodeToken(page.nextToken) : undefined;
  } while (start);
  return rows.sort((a, b) => a.accountId.localeCompare(b.accountId));
}

/** One account's item, or undefined when the registry holds none. */
export async function readAccount(
  client: DynamoDBClient,
  table: string,
  accountId: string,
): Promise<AccountView | undefined> {
  const answer = await client.send(
    new GetItemCommand({ TableName: table, Key: { accountId: { S: accountId } }, ConsistentRead: true }),
  );
  return answer.Item ? accountView(fromItem(answer.Item)) : undefined;
}
