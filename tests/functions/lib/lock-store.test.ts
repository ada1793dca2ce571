import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  ResourceNotFoundException,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { isTransientName, WorkflowError } from "../../../functions/lib/errors.ts";
import { DynamoLockStore, MemoryLockStore } from "../../../functions/lib/lock-store.ts";
import { rejectionOf, TARGET } from "../../support/aws.ts";

const TABLE = "onboarding-test-locks";
const HOUR_MS = 60 * 60 * 1000;
const TTL_MS = 2 * HOUR_MS;
/** Half a second into a second: shows that times are rounded down to epoch seconds. */
const NOW_MS = Date.UTC(2025, 0, 15, 12, 0, 0, 500);
const NOW_S = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000;
const FIRST = "onboard-222222222222-first";
const SECOND = "console-run-by-hand";

const meta = { $metadata: { httpStatusCode: 400, requestId: "req-0001" } };

/** DynamoDB's refusal, with the item in place as ReturnValuesOnConditionCheckFailure asked. */
const heldBy = (owner: string) =>
  new ConditionalCheckFailedException({
    message: "The conditional request failed",
    Item: { accountId: { S: TARGET }, owner: { S: owner }, expiresAt: { N: String(NOW_S + 3600) } },
    ...meta,
  });

describe("MemoryLockStore", () => {
  let store: MemoryLockStore;
  beforeEach(() => {
    store = new MemoryLockStore();
  });

  it("gives a free lock to the first owner", async () => {
    // Assess
    expect(await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS)).toEqual({ acquired: true });
  });

  it("refuses another owner and names the holder", async () => {
    // Prepare
    await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Act
    const claim = await store.acquire(TARGET, SECOND, NOW_MS + HOUR_MS, TTL_MS);

    // Assess
    expect(claim).toEqual({ acquired: false, heldBy: FIRST });
  });

  it("lets the holder acquire again and pushes the expiry back", async () => {
    // Prepare
    await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Act
    const again = await store.acquire(TARGET, FIRST, NOW_MS + HOUR_MS, TTL_MS);

    // Assess: held past the first expiry, free after the refreshed one.
    expect(again).toEqual({ acquired: true });
    expect((await store.acquire(TARGET, SECOND, NOW_MS + TTL_MS + 1000, TTL_MS)).acquired).toBe(false);
    expect((await store.acquire(TARGET, SECOND, NOW_MS + HOUR_MS + TTL_MS + 1000, TTL_MS)).acquired).toBe(
      true,
    );
  });

  it("holds a lock through its last second and hands it over after", async () => {
    // Prepare
    await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Act
    const atExpiry = await store.acquire(TARGET, SECOND, NOW_MS + TTL_MS, TTL_MS);
    const afterExpiry = await store.acquire(TARGET, SECOND, NOW_MS + TTL_MS + 1000, TTL_MS);

    // Assess
    expect(atExpiry).toEqual({ acquired: false, heldBy: FIRST });
    expect(afterExpiry).toEqual({ acquired: true });
    expect(await store.acquire(TARGET, FIRST, NOW_MS + TTL_MS + 1000, TTL_MS)).toEqual({
      acquired: false,
      heldBy: SECOND,
    });
  });

  it("frees the lock when its owner releases it", async () => {
    // Prepare
    await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Act
    await store.release(TARGET, FIRST);

    // Assess
    expect(await store.acquire(TARGET, SECOND, NOW_MS, TTL_MS)).toEqual({ acquired: true });
  });

  it("keeps the lock when another owner releases it", async () => {
    // Prepare
    await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Act
    await store.release(TARGET, SECOND);

    // Assess
    expect(await store.acquire(TARGET, SECOND, NOW_MS, TTL_MS)).toEqual({ acquired: false, heldBy: FIRST });
  });

  it("releases a lock nobody holds without complaint", async () => {
    // Assess
    await expect(store.release(TARGET, FIRST)).resolves.toBeUndefined();
  });

  it("locks each account on its own", async () => {
    // Prepare
    await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Assess
    expect(await store.acquire("333333333333", SECOND, NOW_MS, TTL_MS)).toEqual({ acquired: true });
  });

  it("gives the lock to exactly one of 200 owners asking at once", async () => {
    // Act
    const claims = await Promise.all(
      Array.from({ length: 200 }, (_, i) => store.acquire(TARGET, `run-${i}`, NOW_MS, TTL_MS)),
    );

    // Assess
    const winners = claims.flatMap((claim, i) => (claim.acquired ? [`run-${i}`] : []));
    expect(winners).toHaveLength(1);
    expect(new Set(claims.filter((claim) => !claim.acquired).map((claim) => claim.heldBy))).toEqual(
      new Set(winners),
    );
  });
});

describe("DynamoLockStore", () => {
  const dynamo = mockClient(DynamoDBClient);
  let store: DynamoLockStore;
  beforeEach(() => {
    dynamo.reset();
    store = new DynamoLockStore(new DynamoDBClient({}), TABLE);
  });

  it("acquires with one conditional PutItem whose expiry is in epoch seconds", async () => {
    // Prepare
    dynamo.on(PutItemCommand).resolves({});

    // Act
    const claim = await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Assess
    expect(claim).toEqual({ acquired: true });
    expect(dynamo.calls()).toHaveLength(1);
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Item: {
        accountId: { S: TARGET },
        owner: { S: FIRST },
        expiresAt: { N: String(NOW_S + 7200) },
      },
      ConditionExpression: "attribute_not_exists(accountId) OR #owner = :owner OR expiresAt < :now",
      ExpressionAttributeNames: { "#owner": "owner" },
      ExpressionAttributeValues: { ":owner": { S: FIRST }, ":now": { N: String(NOW_S) } },
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
  });

  it("answers a failed condition as refused, naming the holder from the old item", async () => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(heldBy(SECOND));

    // Act
    const claim = await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Assess
    expect(claim).toEqual({ acquired: false, heldBy: SECOND });
  });

  it("answers refused without a holder when DynamoDB returns no old item", async () => {
    // Prepare
    dynamo
      .on(PutItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: "The conditional request failed", ...meta }));

    // Act
    const claim = await store.acquire(TARGET, FIRST, NOW_MS, TTL_MS);

    // Assess
    expect(claim).toEqual({ acquired: false });
  });

  it("releases with a DeleteItem conditioned on the owner", async () => {
    // Prepare
    dynamo.on(DeleteItemCommand).resolves({});

    // Act
    await store.release(TARGET, FIRST);

    // Assess
    expect(dynamo.calls()).toHaveLength(1);
    expect(dynamo.commandCalls(DeleteItemCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { accountId: { S: TARGET } },
      ConditionExpression: "#owner = :owner",
      ExpressionAttributeNames: { "#owner": "owner" },
      ExpressionAttributeValues: { ":owner": { S: FIRST } },
    });
  });

  it("takes a failed release condition as a lock that is no longer ours", async () => {
    // Prepare
    dynamo.on(DeleteItemCommand).rejects(heldBy(SECOND));

    // Assess
    await expect(store.release(TARGET, FIRST)).resolves.toBeUndefined();
  });

  it("makes throttling of the PutItem a transient error naming the table and the account", async () => {
    // Prepare
    dynamo
      .on(PutItemCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: "Rate exceeded", ...meta }));

    // Act
    const error = await rejectionOf(store.acquire(TARGET, FIRST, NOW_MS, TTL_MS));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("Throttling");
    expect(isTransientName(error.name)).toBe(true);
    expect(error.message).toBe(
      `AccountLock: PutItem lock of account ${TARGET} in table ${TABLE} failed (ProvisionedThroughputExceededException: Rate exceeded)`,
    );
  });

  it("makes an internal error of the DeleteItem a transient error", async () => {
    // Prepare
    dynamo
      .on(DeleteItemCommand)
      .rejects(new InternalServerError({ message: "Internal error", $metadata: { httpStatusCode: 500 } }));

    // Act
    const error = await rejectionOf(store.release(TARGET, FIRST));

    // Assess
    expect(error.name).toBe("ServiceFailure");
    expect(error.message).toContain(`DeleteItem lock of account ${TARGET}`);
  });

  it("fails permanently, naming the table, when the table does not exist", async () => {
    // Prepare
    dynamo
      .on(PutItemCommand)
      .rejects(new ResourceNotFoundException({ message: "Requested resource not found", ...meta }));

    // Act
    const error = await rejectionOf(store.acquire(TARGET, FIRST, NOW_MS, TTL_MS));

    // Assess: not mistaken for a held lock, which would be retried for hours.
    expect(error.name).toBe("NoSuchEntity");
    expect(isTransientName(error.name)).toBe(false);
    expect(error.message).toContain(`table ${TABLE}`);
  });
});
