import { beforeEach, describe, expect, it } from "vitest";
import {
  compareNumbers,
  dynamoIntegrations,
  evaluateCondition,
  FakeDynamoDB,
  type Item,
} from "../../../local/aws/dynamodb.ts";

/*
 * The in-memory DynamoDB against DynamoDB's documented rules (Developer Guide, "Comparison
 * operator and function reference" and "Condition expressions"), for the expressions the workflow
 * uses and those a conditional write of typed attributes commonly needs.
 */

const TABLE = "locks";
const LOCK_CONDITION = "attribute_not_exists(accountId) OR #owner = :owner OR expiresAtIso < :now";
const names = { "#owner": "owner" };
const item: Item = {
  accountId: { S: "222222222222" },
  owner: { S: "first" },
  expiresAt: { N: "1736967600" },
  expiresAtIso: { S: "2025-01-15T19:00:00.000Z" },
};

let db: FakeDynamoDB;
beforeEach(() => {
  db = new FakeDynamoDB();
  db.createTable(TABLE, { partitionKey: { name: "accountId", type: "S" } });
});

const lockPut = (owner: string, now: string) => ({
  TableName: TABLE,
  Item: { ...item, owner: { S: owner } },
  ConditionExpression: LOCK_CONDITION,
  ExpressionAttributeNames: names,
  ExpressionAttributeValues: { ":owner": { S: owner }, ":now": { S: now } },
});

describe("condition expressions", () => {
  const when = (expression: string, values: Item = {}, on: Item = item) =>
    evaluateCondition(expression, on, {
      ...(expression.includes("#owner") ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: values,
    });

  it("attribute_not_exists is true of a missing item or attribute, attribute_exists the opposite", () => {
    expect(evaluateCondition("attribute_not_exists(accountId)", {})).toBe(true);
    expect(evaluateCondition("attribute_not_exists(accountId)", item)).toBe(false);
    expect(evaluateCondition("attribute_exists(accountId)", item)).toBe(true);
    expect(evaluateCondition("attribute_exists(nothing)", item)).toBe(false);
  });

  it("= compares values of the same type; numbers by value", () => {
    expect(when("#owner = :o", { ":o": { S: "first" } })).toBe(true);
    expect(when("#owner = :o", { ":o": { S: "First" } })).toBe(false);
    expect(when("expiresAt = :n", { ":n": { N: "1736967600.00" } })).toBe(true);
    expect(when("expiresAt = :n", { ":n": { S: "1736967600" } })).toBe(false);
  });

  it("any comparison with a missing attribute is false, but <>", () => {
    expect(when("#owner = :o", { ":o": { S: "first" } }, {})).toBe(false);
    expect(when("expiresAt < :n", { ":n": { N: "1" } }, {})).toBe(false);
    expect(when("#owner <> :o", { ":o": { S: "first" } }, {})).toBe(true);
  });

  it("< orders numbers by value and strings by their UTF-8 bytes; a type mismatch is false", () => {
    expect(when("expiresAt < :n", { ":n": { N: "1.7369676001E9" } })).toBe(true);
    expect(when("expiresAt < :n", { ":n": { N: "999999999" } })).toBe(false);
    expect(when("expiresAtIso < :s", { ":s": { S: "2025-01-15T19:00:00.001Z" } })).toBe(true);
    expect(when("expiresAtIso < :s", { ":s": { S: "2025-01-15T19:00:00.000Z" } })).toBe(false);
    expect(when("expiresAt < :s", { ":s": { S: "9" } })).toBe(false);
    // U+FFFD sorts before U+1F600 in UTF-8 (as in DynamoDB), after it in UTF-16 (as in JavaScript).
    expect(
      evaluateCondition(
        "a < :b",
        { a: { S: "\uFFFD" } },
        { ExpressionAttributeValues: { ":b": { S: "😀" } } },
      ),
    ).toBe(true);
  });

  it("AND binds tighter than OR; NOT and parentheses", () => {
    const v = { ":a": { S: "x" }, ":b": { S: "first" } };
    expect(when("#owner = :a AND #owner = :a OR #owner = :b", v)).toBe(true);
    expect(when("#owner = :a AND (#owner = :a OR #owner = :b)", v)).toBe(false);
    expect(when("NOT #owner = :a AND #owner = :b", v)).toBe(true);
  });

  it("BETWEEN, IN and begins_with", () => {
    const v = { ":lo": { N: "1" }, ":hi": { N: "2e9" }, ":p": { S: "fir" }, ":x": { S: "y" } };
    expect(when("expiresAt BETWEEN :lo AND :hi AND begins_with(#owner, :p) AND #owner IN (:x, :p)", v)).toBe(
      false,
    );
    const { ":x": _unused, ...within } = v;
    expect(when("expiresAt BETWEEN :lo AND :hi AND begins_with(#owner, :p)", within)).toBe(true);
  });

  it("refuses an undefined or unused #name or :value, a reserved word and a syntax error", () => {
    expect(() =>
      evaluateCondition("#x = :v", item, { ExpressionAttributeValues: { ":v": { S: "" } } }),
    ).toThrow(/attribute name used in the document path is not defined/);
    expect(() => evaluateCondition("accountId = :v", item, {})).toThrow(/ExpressionAttributeValues/);
    expect(() =>
      evaluateCondition("attribute_exists(accountId)", item, {
        ExpressionAttributeValues: { ":v": { S: "" } },
      }),
    ).toThrow(/unused in expressions/);
    expect(() =>
      evaluateCondition("owner = :v", item, { ExpressionAttributeValues: { ":v": { S: "" } } }),
    ).toThrow(/reserved keyword/);
    expect(() => evaluateCondition("accountId = ", item)).toThrow(/Syntax error/);
  });

  it("compares numbers as decimals beyond a double's precision", () => {
    expect(
      compareNumbers("12345678901234567890123456789012345678", "12345678901234567890123456789012345679"),
    ).toBe(-1);
    expect(compareNumbers("-0.5", "-0.05")).toBe(-1);
    expect(compareNumbers("0", "-0.0")).toBe(0);
    expect(compareNumbers("1e2", "100")).toBe(0);
  });
});

describe("the lock's conditional writes", () => {
  it("PutItem takes a free lock, its own again, or one past its deadline; refuses a live one", () => {
    db.putItem(lockPut("first", "2025-01-15T12:00:00.000Z"));

    expect(() => db.putItem(lockPut("first", "2025-01-15T12:00:01.000Z"))).not.toThrow();
    expect(() => db.putItem(lockPut("second", "2025-01-15T18:59:59.999Z"))).toThrow(
      expect.objectContaining({ name: "ConditionalCheckFailedException" }),
    );
    expect(() => db.putItem(lockPut("second", "2025-01-15T19:00:00.001Z"))).not.toThrow();
    expect(db.items(TABLE).map((i) => i.owner)).toEqual([{ S: "second" }]);
  });

  it("names the holder on a refusal when ALL_OLD is asked", () => {
    db.putItem(lockPut("first", "2025-01-15T12:00:00.000Z"));

    const refusal = (() => {
      try {
        db.putItem({
          ...lockPut("second", "2025-01-15T12:00:00.000Z"),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        });
      } catch (error) {
        return error as { Item?: Item };
      }
    })();

    expect(refusal?.Item?.owner).toEqual({ S: "first" });
  });

  it("gives the lock to exactly one of 200 owners asking at once", async () => {
    const claims = await Promise.allSettled(
      Array.from({ length: 200 }, async (_, i) =>
        db.putItem(lockPut(`run-${i}`, "2025-01-15T12:00:00.000Z")),
      ),
    );

    expect(claims.filter((c) => c.status === "fulfilled")).toHaveLength(1);
  });

  it("DeleteItem conditioned on the owner frees only the owner's lock, and refuses otherwise", () => {
    db.putItem(lockPut("first", "2025-01-15T12:00:00.000Z"));
    const release = (owner: string) => ({
      TableName: TABLE,
      Key: { accountId: item.accountId as Item[string] },
      ConditionExpression: "#owner = :owner",
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ":owner": { S: owner } },
    });

    expect(() => db.deleteItem(release("second"))).toThrow(
      expect.objectContaining({ name: "ConditionalCheckFailedException" }),
    );
    expect(db.items(TABLE)).toHaveLength(1);
    db.deleteItem(release("first"));
    expect(db.items(TABLE)).toEqual([]);
    // Nothing left: the condition fails on the missing item, as in DynamoDB.
    expect(() => db.deleteItem(release("first"))).toThrow(
      expect.objectContaining({ name: "ConditionalCheckFailedException" }),
    );
  });

  it("keys items by their key attributes only, of the declared type", () => {
    expect(() => db.putItem({ TableName: TABLE, Item: { owner: { S: "x" } } })).toThrow(
      /Missing the key accountId/,
    );
    expect(() => db.putItem({ TableName: TABLE, Item: { accountId: { N: "1" } } })).toThrow(/Type mismatch/);
    expect(() =>
      db.putItem({ TableName: TABLE, Item: { accountId: { S: "1" }, n: { N: 5 as never } } }),
    ).toThrow(/not a well-formed N/);
    expect(() => db.getItem({ TableName: "missing", Key: { accountId: { S: "1" } } })).toThrow(
      expect.objectContaining({ name: "ResourceNotFoundException" }),
    );
  });
});

describe("as a Step Functions service integration", () => {
  it("reports DynamoDB's errors by Step Functions' names", async () => {
    const putItem = dynamoIntegrations(db)["arn:aws:states:::dynamodb:putItem"];
    await putItem?.(lockPut("first", "2025-01-15T12:00:00.000Z"));

    await expect(putItem?.(lockPut("second", "2025-01-15T12:00:00.000Z"))).rejects.toMatchObject({
      name: "DynamoDB.ConditionalCheckFailedException",
      message: expect.stringContaining("The conditional request failed"),
    });
  });
});
