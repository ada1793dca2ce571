import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { readSettings } from "../../functions/lib/config.ts";
import { type AccountRow, accountRow, scanWholeFleet } from "../../functions/lib/fleet-view.ts";
import { fromItem } from "../../functions/lib/registry.ts";
import type { FakeDynamoDB } from "../aws/dynamodb.ts";
import { REGISTRY_TABLE } from "../environment.ts";
import type { CliOptions } from "./args.ts";
import { UsageError } from "./args.ts";

/*
 * `npm start -- --status`: the fleet view of GET /accounts as a table (or, with --json, as the
 * same JSON rows). Alone it shows the registry and runs nothing: locally that is the in-memory
 * registry, which starts empty; with --live the deployed stack's table. Given with a run's
 * options it runs the onboarding first, then shows the registry as the run left it.
 */

/** The options that ask for a run; --status with none of them only shows the registry. */
export function statusOnly(options: CliOptions): boolean {
  const { account, role, name, failAt, events, plan, adopt } = options;
  return (
    options.status && [account, role, name, failAt, events].every((v) => v === undefined) && !plan && !adopt
  );
}

/** The in-memory registry's rows, read from the table itself (no call of a run's). */
export function localFleet(dynamodb: FakeDynamoDB): AccountRow[] {
  return dynamodb
    .items(REGISTRY_TABLE)
    .map((item) => accountRow(fromItem(item as never)))
    .sort((a, b) => a.accountId.localeCompare(b.accountId));
}

/**
 * The deployed registry's table: --registry-table, else REGISTRY_TABLE_NAME (the stack's output
 * AccountRegistryTableName), checked as the functions check it.
 */
export function liveRegistryTable(
  option: string | undefined,
  env: Record<string, string | undefined>,
): string {
  const name = option ?? env.REGISTRY_TABLE_NAME?.trim();
  if (!name) {
    throw new UsageError(
      "option --status --live needs the registry's table: --registry-table <name> or REGISTRY_TABLE_NAME (the stack's output AccountRegistryTableName)",
    );
  }
  try {
    return readSettings(["registryTableName"], { REGISTRY_TABLE_NAME: name }).registryTableName;
  } catch (error) {
    const problem = (error as Error).message.replace(/^setting REGISTRY_TABLE_NAME: /, "");
    throw new UsageError(`option --registry-table: ${problem}`);
  }
}

export const liveFleet = (dynamodb: DynamoDBClient, table: string) => scanWholeFleet(dynamodb, table);

const COLUMNS: [string, (row: AccountRow) => string][] = [
  ["ACCOUNT", (r) => r.accountId],
  ["STATUS", (r) => r.status],
  ["CLOUD ACCOUNT", (r) => (r.cloudAccountId === null ? "-" : String(r.cloudAccountId))],
  ["LAST EXECUTION", (r) => r.lastExecution ?? "-"],
  ["OUTCOME", (r) => r.lastOutcome ?? "-"],
  ["DRIFT", (r) => (r.drift.count === 0 ? "-" : `${r.drift.count} (${r.drift.kinds.join(", ")})`)],
  ["RECONCILED", (r) => r.reconciledAt ?? "-"],
];

/** Plain text, one line per account under a header; an empty registry says so in words. */
export function formatFleet(rows: AccountRow[], where: string): string {
  if (rows.length === 0) return `No accounts in the ${where} registry.\n`;
  const cells = [COLUMNS.map(([title]) => title), ...rows.map((row) => COLUMNS.map(([, cell]) => cell(row)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? "").length)));
  const lines = cells.map((line) =>
    line
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n${rows.length} account${rows.length === 1 ? "" : "s"} in the ${where} registry.\n`;
}

/** What --status prints: the table, or with --json the rows as GET /accounts answers them. */
export function fleetOutput(rows: AccountRow[], options: Pick<CliOptions, "json" | "live">): string {
  if (options.json) return `${JSON.stringify({ accounts: rows }, null, 2)}\n`;
  return formatFleet(rows, options.live ? "deployed" : "local (in-memory)");
}

/** Where --status alone reads: a fresh local environment, or the deployed table. */
export interface FleetSources {
  startLocal: () => Promise<{ dynamodb: FakeDynamoDB; close(): Promise<void> }>;
  liveClient: () => DynamoDBClient;
}

/** --status alone: 0 with the registry printed, 1 when it could not be read. */
export async function showFleet(
  options: CliOptions,
  io: { stdout(text: string): void; stderr(text: string): void; env: Record<string, string | undefined> },
  sources: FleetSources,
): Promise<number> {
  let rows: AccountRow[];
  if (options.live) {
    const table = liveRegistryTable(options.registryTable, io.env);
    try {
      rows = await liveFleet(sources.liveClient(), table);
    } catch (error) {
      io.stderr(
        `cannot read the registry table ${table}: ${(error as Error).name}: ${(error as Error).message}\n`,
      );
      return 1;
    }
  } else {
    const env = await sources.startLocal();
    try {
      rows = localFleet(env.dynamodb);
    } finally {
      await env.close();
    }
  }
  io.stdout(fleetOutput(rows, options));
  return 0;
}
