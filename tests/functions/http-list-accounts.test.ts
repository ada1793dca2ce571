import { DynamoDBClient, InternalServerError, ScanCommand } from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createHandler } from "../../functions/http-list-accounts.ts";
import { fleetReadDeps } from "../../functions/lib/fleet-http.ts";
import { encodeToken } from "../../functions/lib/fleet-view.ts";
import { logger } from "../../functions/lib/powertools.ts";
import { apiRequest, callHandler, storedItem } from "../support/fleet.ts";
import { expectInternalError, expectSettingFailure } from "../support/http.ts";

const TABLE = "redis-cloud-byoc-test-account-registry";
const dynamoMock = mockClient(DynamoDBClient);
const handler = createHandler(() => ({ dynamodb: new DynamoDBClient({}), registryTableName: TABLE }));

const list = (query?: Record<string, string>) =>
  callHandler(handler, apiRequest("GET /accounts", "/accounts", query ? { query } : {}), "httpListAccounts");

const ROW_KEYS = [
  "accountId",
  "cloudAccountId",
  "drift",
  "lastExecution",
  "lastOutcome",
  "reconciledAt",
  "status",
];

beforeEach(() => {
  dynamoMock.reset();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("GET /accounts", () => {
  it("answers one row per account: status, cloud account, last run and outcome, drift", async () => {
    dynamoMock.on(ScanCommand).resolves({
      Items: [
        storedItem("333333333333", { status: "failed", lastOutcome: "failed", lastError: "AccessDenied" }),
        storedItem("222222222222", {
          reconciledAt: "2026-11-22T03:00:00.000Z",
          drift: [
            {
              kind: "PolicyDocument",
              resource: "RedisLabsInstanceRolePolicy",
              detail: "default version differs",
            },
            { kind: "Missing", resource: "redislabs-role", detail: "role not found" },
            { kind: "PolicyDocument", resource: "RedislabsIAMUserRestrictedPolicy", detail: "differs" },
          ],
        }),
      ],
    });

    const answer = await list();

    expect(answer.statusCode).toBe(200);
    expect(answer.json.nextToken).toBeUndefined();
    expect(answer.json.accounts).toEqual([
      {
        accountId: "222222222222",
        status: "active",
        cloudAccountId: 4242,
        lastExecution: "222222222222-api-20261121T1956Z",
        lastOutcome: "succeeded",
        drift: { count: 3, kinds: ["Missing", "PolicyDocument"] },
        reconciledAt: "2026-11-22T03:00:00.000Z",
      },
      {
        accountId: "333333333333",
        status: "failed",
        cloudAccountId: 4242,
        lastExecution: "333333333333-api-20261121T1956Z",
        lastOutcome: "failed",
        drift: { count: 0, kinds: [] },
        reconciledAt: null,
      },
    ]);
  });

  it("shows a status a later release writes (offboarded) as it is stored", async () => {
    dynamoMock.on(ScanCommand).resolves({ Items: [storedItem("222222222222", { status: "offboarded" })] });

    const answer = await list();

    expect((answer.json.accounts as { status: string }[])[0]?.status).toBe("offboarded");
  });

  it("projects each item: no registration, resources, secret ARN or any field the row does not name", async () => {
    dynamoMock
      .on(ScanCommand)
      .resolves({ Items: [storedItem("222222222222", { consolePassword: "Pa55-word!", note: "x" })] });

    const answer = await list();

    const [row] = answer.json.accounts as Record<string, unknown>[];
    expect(Object.keys(row ?? {}).sort()).toEqual(ROW_KEYS);
    expect(answer.body).not.toContain("Pa55-word!");
    expect(answer.body).not.toContain("secretsmanager");
    expect(answer.body).not.toContain("AKIAIOSFODNN7EXAMPLE");
  });

  it("scans 50 items a page by default, and `limit` of them when given", async () => {
    dynamoMock.on(ScanCommand).resolves({ Items: [] });

    await list();
    await list({ limit: "7" });

    const limits = dynamoMock
      .commandCalls(ScanCommand)
      .map((c) => [c.args[0].input.TableName, c.args[0].input.Limit]);
    expect(limits).toEqual([
      [TABLE, 50],
      [TABLE, 7],
    ]);
  });

  it("pages: the nextToken it answers starts the next scan where the last one ended", async () => {
    const lastKey = { accountId: { S: "222222222222" } };
    dynamoMock
      .on(ScanCommand)
      .resolvesOnce({ Items: [storedItem("222222222222")], LastEvaluatedKey: lastKey })
      .resolvesOnce({ Items: [storedItem("333333333333")] });

    const first = await list({ limit: "1" });
    const second = await list({ limit: "1", nextToken: String(first.json.nextToken) });

    expect(first.json.nextToken).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(dynamoMock.commandCalls(ScanCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual(lastKey);
    expect(second.json.nextToken).toBeUndefined();
    expect((second.json.accounts as { accountId: string }[]).map((a) => a.accountId)).toEqual([
      "333333333333",
    ]);
  });

  it.each([["0"], ["101"], ["ten"], ["1.5"], ["-3"], [""]])(
    "refuses limit=%j with 400 naming limit, and scans nothing",
    async (limit) => {
      const answer = await list({ limit });

      expect(answer.statusCode).toBe(400);
      expect(String(answer.json.message)).toMatch(/^limit: /);
      expect(dynamoMock.commandCalls(ScanCommand)).toHaveLength(0);
    },
  );

  it.each([
    ["not base64url", "%%%"],
    ["not JSON", Buffer.from("hello").toString("base64url")],
    ["another key", encodeToken({ id: { S: "222222222222" } })],
    ["a key with more", encodeToken({ accountId: { S: "222222222222" }, version: { N: "1" } })],
    ["not an account id", encodeToken({ accountId: { S: "../../etc" } })],
  ])("refuses a nextToken that is %s with 400 naming nextToken, and scans nothing", async (_, nextToken) => {
    const answer = await list({ nextToken });

    expect(answer.statusCode).toBe(400);
    expect(String(answer.json.message)).toMatch(/^nextToken: /);
    expect(dynamoMock.commandCalls(ScanCommand)).toHaveLength(0);
  });

  it("answers an internal error, and nothing of it, when DynamoDB fails", async () => {
    dynamoMock
      .on(ScanCommand)
      .rejects(new InternalServerError({ message: `table ${TABLE} is on fire`, $metadata: {} }));

    const answer = await list();

    expectInternalError(answer);
  });

  it("answers 500 while the registry's table is not set, and logs the setting's name", async () => {
    const unset = createHandler(() => fleetReadDeps({}));
    const logged = vi.spyOn(logger, "error");

    const answer = await callHandler(unset, apiRequest("GET /accounts", "/accounts"), "httpListAccounts");

    expectSettingFailure([answer], logged, "setting REGISTRY_TABLE_NAME: is required");
    expect(dynamoMock.commandCalls(ScanCommand)).toHaveLength(0);
  });
});
