import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { accountRow } from "../../functions/lib/fleet-view.ts";
import { formatFleet } from "../../local/cli/status.ts";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { type Io, main } from "../../local/start.ts";
import { storedItem } from "../support/fleet.ts";

const TARGET = "222222222222";

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  envs: LocalEnvironment[];
}

/** Runs `npm start -- ...argv` in this process. */
async function start(argv: string[], env: Record<string, string> = {}): Promise<Ran> {
  const ran: Ran = { code: -1, stdout: "", stderr: "", envs: [] };
  const io: Io = {
    stdout: (text) => {
      ran.stdout += text;
    },
    stderr: (text) => {
      ran.stderr += text;
    },
    env,
  };
  ran.code = await main(argv, io, {
    startLocal: async (options) => {
      const local = await startLocalEnvironment(options);
      ran.envs.push(local);
      return local;
    },
  });
  return ran;
}

// Mocks every DynamoDB client, the local environment's too: only while a --live test runs.
let dynamoMock = mockClient(DynamoDBClient);
dynamoMock.restore();
beforeEach(() => {
  dynamoMock = mockClient(DynamoDBClient);
});
afterEach(() => {
  dynamoMock.restore();
});

describe("npm start -- --status alone", () => {
  it("prints that the local registry holds no accounts, and runs nothing", async () => {
    const ran = await start(["--status"]);

    expect(ran.code).toBe(0);
    expect(ran.stdout).toBe("No accounts in the local (in-memory) registry.\n");
    expect(ran.stderr).toBe("");
    expect(ran.envs).toHaveLength(1);
    expect(ran.envs[0]?.redis.state.accounts.size).toBe(0);
  });

  it("with --json prints the rows as GET /accounts answers them", async () => {
    const ran = await start(["--status", "--json"]);

    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual({ accounts: [] });
  });

  it("with --live scans the deployed registry table named by --registry-table, every page", async () => {
    dynamoMock
      .on(ScanCommand)
      .resolvesOnce({
        Items: [storedItem("333333333333")],
        LastEvaluatedKey: { accountId: { S: "333333333333" } },
      })
      .resolvesOnce({ Items: [storedItem("222222222222", { status: "offboarding" })] });

    const ran = await start(["--status", "--live", "--registry-table", "byoc-prod-account-registry"]);

    expect(ran.code).toBe(0);
    const scans = dynamoMock.commandCalls(ScanCommand).map((c) => c.args[0].input);
    expect(scans.map((s) => s.TableName)).toEqual([
      "byoc-prod-account-registry",
      "byoc-prod-account-registry",
    ]);
    expect(scans[1]?.ExclusiveStartKey).toEqual({ accountId: { S: "333333333333" } });
    const lines = ran.stdout.trim().split("\n");
    expect(lines[0]).toMatch(
      /^ACCOUNT\s+STATUS\s+CLOUD ACCOUNT\s+LAST EXECUTION\s+OUTCOME\s+DRIFT\s+RECONCILED$/,
    );
    expect(lines[1]).toMatch(/^222222222222\s+offboarding\s+4242\s/);
    expect(lines[2]).toMatch(/^333333333333\s+active\s+4242\s/);
    expect(lines.at(-1)).toBe("2 accounts in the deployed registry.");
  });

  it("with --live takes the table from REGISTRY_TABLE_NAME", async () => {
    dynamoMock.on(ScanCommand).resolves({ Items: [] });

    const ran = await start(["--status", "--live"], { REGISTRY_TABLE_NAME: "byoc-prod-account-registry" });

    expect(ran.stdout).toBe("No accounts in the deployed registry.\n");
    expect(dynamoMock.commandCalls(ScanCommand)[0]?.args[0].input.TableName).toBe(
      "byoc-prod-account-registry",
    );
  });

  it.each([
    [["--status", "--live"], /--registry-table <name> or REGISTRY_TABLE_NAME/],
    [
      ["--status", "--live", "--registry-table", "no spaces allowed"],
      /^option --registry-table: must be a DynamoDB table name/,
    ],
    [
      ["--status", "--registry-table", "byoc-prod-account-registry"],
      /^option --registry-table is only for --status --live/,
    ],
  ])("%j is bad usage: exit 2, the option named, nothing read", async (argv, message) => {
    const ran = await start(argv);

    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(message);
    expect(dynamoMock.commandCalls(ScanCommand)).toHaveLength(0);
  });
});

describe("npm start -- --status with a run", () => {
  beforeEach(() => {
    dynamoMock.restore();
  });

  it("onboards, then prints the registry as the run left it", async () => {
    const ran = await start(["--status", "--account", TARGET]);

    try {
      expect(ran.code).toBe(0);
      const cloudAccountId = [...(ran.envs[0]?.redis.state.accounts.keys() ?? [])][0];
      const table = ran.stdout.slice(ran.stdout.lastIndexOf("\nACCOUNT") + 1);
      expect(table).toMatch(
        new RegExp(`^${TARGET}\\s+active\\s+${cloudAccountId}\\s+\\S+\\s+succeeded\\s+-\\s+-$`, "m"),
      );
      expect(table).toContain("1 account in the local (in-memory) registry.");
    } finally {
      for (const env of ran.envs) await env.close();
    }
  });

  it("with --json puts the rows in the summary's one JSON document", async () => {
    const ran = await start(["--status", "--json", "--account", TARGET]);

    try {
      expect(ran.code).toBe(0);
      const document = JSON.parse(ran.stdout) as { accounts: { accountId: string; lastOutcome: string }[] };
      expect(document.accounts.map((a) => [a.accountId, a.lastOutcome])).toEqual([[TARGET, "succeeded"]]);
    } finally {
      for (const env of ran.envs) await env.close();
    }
  });
});

describe("the fleet table", () => {
  it("shows drift as its count and kinds, and what it does not know as '-'", () => {
    const row = accountRow({
      accountId: "444444444444",
      status: "failed",
      lastOutcome: "failed",
      drift: [
        { kind: "Missing", resource: "redislabs-role", detail: "gone" },
        { kind: "PolicyDocument", resource: "RedisLabsInstanceRolePolicy", detail: "differs" },
      ],
    });

    const [, line] = formatFleet([row], "local").split("\n");

    expect(line).toMatch(/^444444444444\s+failed\s+-\s+-\s+failed\s+2 \(Missing, PolicyDocument\)\s+-$/);
  });
});
