import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createHandler } from "../../functions/http-get-account.ts";
import { apiRequest, callHandler, storedItem } from "../support/fleet.ts";

const TABLE = "redis-cloud-byoc-test-account-registry";
const dynamoMock = mockClient(DynamoDBClient);
const handler = createHandler(() => ({ dynamodb: new DynamoDBClient({}), registryTableName: TABLE }));

const get = (accountId: string | null) =>
  callHandler(
    handler,
    apiRequest(
      "GET /accounts/{accountId}",
      `/accounts/${accountId ?? ""}`,
      accountId === null ? {} : { pathParameters: { accountId } },
    ),
    "httpGetAccount",
  );

beforeEach(() => {
  dynamoMock.reset();
});

describe("GET /accounts/{accountId}", () => {
  it("answers the account's view: its row, its last run, what the product holds, the drift found", async () => {
    const drift = [{ kind: "Missing", resource: "redislabs-role", detail: "role not found" }];
    dynamoMock
      .on(GetItemCommand)
      .resolves({ Item: storedItem("222222222222", { drift, reconciledAt: "2026-11-22T03:00:00.000Z" }) });

    const answer = await get("222222222222");

    expect(answer.statusCode).toBe(200);
    expect(answer.json).toEqual({
      accountId: "222222222222",
      status: "active",
      cloudAccountId: 4242,
      lastExecution: "222222222222-api-20261121T1956Z",
      lastOutcome: "succeeded",
      lastError: null,
      startedBy: "arn:aws:sts::111111111111:assumed-role/platform-operators/alice",
      startedAt: "2026-11-21T19:56:54.000Z",
      updatedAt: "2026-11-21T20:04:10.000Z",
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretArn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/222222222222-AbCdEf",
      resources: [{ type: "User", origin: "created" }],
      drift: { count: 1, kinds: ["Missing"] },
      driftFound: drift,
      reconciledAt: "2026-11-22T03:00:00.000Z",
    });
    expect(dynamoMock.commandCalls(GetItemCommand)[0]?.args[0].input).toMatchObject({
      TableName: TABLE,
      Key: { accountId: { S: "222222222222" } },
    });
  });

  it("never echoes the item: a field the view does not name stays out", async () => {
    dynamoMock.on(GetItemCommand).resolves({
      Item: storedItem("222222222222", { secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" }),
    });

    const answer = await get("222222222222");

    expect(answer.body).not.toContain("wJalrXUtnFEMI");
    expect(answer.body).not.toContain("registration");
    expect(answer.json).not.toHaveProperty("version");
  });

  it("answers 404 naming accountId when the registry holds no such account", async () => {
    dynamoMock.on(GetItemCommand).resolves({});

    const answer = await get("444444444444");

    expect(answer.statusCode).toBe(404);
    expect(String(answer.json.message)).toMatch(/^accountId: /);
  });

  it.each([["12345"], ["2222222222222"], ["22222222222a"], [null]])(
    "refuses accountId %j with 400 naming accountId, and reads nothing",
    async (accountId) => {
      const answer = await get(accountId);

      expect(answer.statusCode).toBe(400);
      expect(String(answer.json.message)).toMatch(/^accountId: /);
      expect(dynamoMock.commandCalls(GetItemCommand)).toHaveLength(0);
    },
  );
});
