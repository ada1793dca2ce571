import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { describeAwsFailure } from "./errors.ts";

/** What an acquire answers: the lock, or who holds it instead. */
export interface LockClaim {
  acquired: boolean;
  /** The owner holding the lock when it was refused. */
  heldBy?: string;
}

/**
 * One lock per AWS account, so that two onboardings of the same account never interleave their
 * writes. A lock expires `ttlMs` after its last acquire: an owner that dies without releasing it
 * does not block the account for ever. Acquiring a lock one already holds refreshes its expiry
 * (a retried step is the same owner).
 */
export interface LockStore {
  acquire(accountId: string, owner: string, nowMs: number, ttlMs: number): Promise<LockClaim>;
  /** Frees the lock if `owner` holds it; a lock held by another owner, or none, is left as it is. */
  release(accountId: string, owner: string): Promise<void>;
}

/** DynamoDB's TTL attribute is in epoch seconds; both stores count in seconds so they agree. */
const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

/** A lock is still held through its last second; it is free once that second has passed. */
const expired = (expiresAt: number, nowMs: number): boolean => expiresAt < epochSeconds(nowMs);

/** Where the failures of this store are said to come from (it serves both lock steps). */
const COMPONENT = "AccountLock";

/**
 * The deployment's store: one item per account in a table keyed by `accountId`. Each call is a
 * single conditional write, so DynamoDB itself decides between concurrent owners. `expiresAt` is
 * also the table's TTL attribute, which only cleans up: DynamoDB deletes expired items lazily,
 * so the condition checks the expiry itself.
 */
export class DynamoLockStore implements LockStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async acquire(accountId: string, owner: string, nowMs: number, ttlMs: number): Promise<LockClaim> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            accountId: { S: accountId },
            owner: { S: owner },
            expiresAt: { N: String(epochSeconds(nowMs + ttlMs)) },
          },
          ConditionExpression: "attribute_not_exists(accountId) OR #owner = :owner OR expiresAt < :now",
          // OWNER is a reserved word of DynamoDB's expressions.
          ExpressionAttributeNames: { "#owner": "owner" },
          ExpressionAttributeValues: { ":owner": { S: owner }, ":now": { N: String(epochSeconds(nowMs)) } },
          // Says who holds the lock in the same round trip as the refusal.
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { acquired: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException))
        throw this.failure("PutItem", accountId, error);
      const heldBy = error.Item?.owner?.S;
      return heldBy === undefined ? { acquired: false } : { acquired: false, heldBy };
    }
  }

  async release(accountId: string, owner: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { accountId: { S: accountId } },
          ConditionExpression: "#owner = :owner",
          ExpressionAttributeNames: { "#owner": "owner" },
          ExpressionAttributeValues: { ":owner": { S: owner } },
        }),
      );
    } catch (error) {
      // No lock, or another owner's (ours expired and was taken over): nothing of ours to free.
      if (error instanceof ConditionalCheckFailedException) return;
      throw this.failure("DeleteItem", accountId, error);
    }
  }

  private failure(operation: string, accountId: string, error: unknown) {
    return describeAwsFailure(
      COMPONENT,
      operation,
      `lock of account ${accountId} in table ${this.tableName}`,
      error,
    );
  }
}

/**
 * The same rules in memory, for local runs and tests. Each call decides without awaiting, so
 * concurrent callers in one process are serialized exactly as DynamoDB serializes writes.
 */
export class MemoryLockStore implements LockStore {
  private readonly locks = new Map<string, { owner: string; expiresAt: number }>();

  async acquire(accountId: string, owner: string, nowMs: number, ttlMs: number): Promise<LockClaim> {
    const held = this.locks.get(accountId);
    if (held && held.owner !== owner && !expired(held.expiresAt, nowMs)) {
      return { acquired: false, heldBy: held.owner };
    }
    this.locks.set(accountId, { owner, expiresAt: epochSeconds(nowMs + ttlMs) });
    return { acquired: true };
  }

  async release(accountId: string, owner: string): Promise<void> {
    if (this.locks.get(accountId)?.owner === owner) this.locks.delete(accountId);
  }
}
