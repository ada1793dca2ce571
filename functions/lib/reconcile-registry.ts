import { type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { type Drift, DriftSchema } from "./drift.ts";
import { describeAwsFailure } from "./errors.ts";
import { parseItem, putRegistryItem, type RegistryItem, readRegistryItem } from "./registry.ts";

/*
 * What a reconcile reads and writes in the account registry: pages of the fleet, and per account
 * when it was last reconciled and how it differed (`drift`, empty when clean). The item's other
 * fields are kept as they are; the write is conditional on the version read, as every registry
 * write is, so a run recording its changes meanwhile is never overwritten (RegistryConflict, retried).
 */

export interface ReconcileRecord {
  reconciledAt: string;
  drift: Drift[];
  /** The onboarding a reconcile started to repair the drift, and how it ended. */
  repair?: { execution: string; outcome: "succeeded" | "failed"; error?: string };
}

/** The registry item with what the reconcile recorded, read loosely (an older item has none). */
export function reconcileOf(item: RegistryItem): Partial<ReconcileRecord> {
  const reconciledAt = typeof item.reconciledAt === "string" ? item.reconciledAt : undefined;
  const drift = DriftSchema.array().safeParse(item.drift);
  return { ...(reconciledAt ? { reconciledAt } : {}), ...(drift.success ? { drift: drift.data } : {}) };
}

export interface RegistryPage {
  items: RegistryItem[];
  /** The key to start the next page after; absent: the table is read to its end. */
  next?: string;
}

export class ReconcileRegistry {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly step: string,
  ) {}

  /** One page of the table (at most `limit` items, of any status), after the account `after`. */
  async page(limit: number, after?: string): Promise<RegistryPage> {
    const answer = await this.send("Scan", () =>
      this.client.send(
        new ScanCommand({
          TableName: this.table,
          Limit: limit,
          ConsistentRead: true,
          ...(after ? { ExclusiveStartKey: { accountId: { S: after } } } : {}),
        }),
      ),
    );
    const items = (answer.Items ?? []).map((stored) => parseItem(stored.accountId?.S ?? "(no id)", stored));
    const next = answer.LastEvaluatedKey?.accountId?.S;
    return { items, ...(next ? { next } : {}) };
  }

  /** A fresh read each time (no per-invocation cache: a page's accounts change under it). */
  get(accountId: string): Promise<RegistryItem | undefined> {
    return readRegistryItem(this.client, this.table, this.step, accountId);
  }

  /** Records the reconcile on the item as read; another writer since then: RegistryConflict. */
  async record(item: RegistryItem, record: ReconcileRecord): Promise<void> {
    const { repair: _previous, ...kept } = item;
    const next = { ...kept, ...record, version: item.version + 1 } as RegistryItem;
    await putRegistryItem(this.client, this.table, this.step, next, item.version);
  }

  private async send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw describeAwsFailure(this.step, operation, `registry table ${this.table}`, error);
    }
  }
}
