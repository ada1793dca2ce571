import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { beforeEach, describe, expect, it } from "vitest";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { startedByOf } from "../../../functions/lib/execution-names.ts";
import { fromItem, parseItem, Registry, toItem } from "../../../functions/lib/registry.ts";
import type { Change } from "../../../functions/lib/step.ts";
import { FakeAws } from "../../../local/aws/index.ts";
import { createLocalTables, REGISTRY_TABLE, registryItemOf } from "../../../local/environment.ts";
import { rejectionOf } from "../../support/aws.ts";

const HOME = { accountId: "111111111111", region: "us-east-1" };
const ACCOUNT = "222222222222";
const ROLE: Change = { type: "Role", name: "redislabs-cluster-node-role" };
const TRUST: Change = { type: "TrustPolicy", role: "redislabs-role", previousDocument: "{}" };

let aws: FakeAws;
const registry = (step = "Test") => new Registry(aws.clients(HOME).dynamodb(), REGISTRY_TABLE, step);
const stored = () => registryItemOf(aws.account(HOME.accountId).dynamodb, ACCOUNT);

beforeEach(() => {
  aws = new FakeAws();
  aws.addAccount(HOME.accountId);
  createLocalTables(aws.account(HOME.accountId).dynamodb);
});

describe("the account registry", () => {
  it("begins a run: onboarding, this execution the last, version 1 written only if there was none", async () => {
    await registry().beginRun(ACCOUNT, { execution: "run-1", startedBy: "http-api" });

    expect(stored()).toMatchObject({
      accountId: ACCOUNT,
      version: 1,
      status: "onboarding",
      lastExecution: "run-1",
      lastOutcome: "running",
      startedBy: "http-api",
      resources: [],
    });
    const put = aws.calls.find((call) => call.command === "PutItem");
    expect(put?.input).toMatchObject({ ConditionExpression: "attribute_not_exists(accountId)" });
  });

  it("records each change once, under its execution, with how the run came by it", async () => {
    const writer = registry();
    await writer.beginRun(ACCOUNT, { execution: "run-1" });
    await writer.recordChange(ACCOUNT, "run-1", ROLE);
    await writer.recordChange(ACCOUNT, "run-1", TRUST);
    // A retried step records the same change again: no second entry, no write.
    const writes = aws.writeCount();
    await registry().recordChange(ACCOUNT, "run-1", ROLE);

    expect(aws.writeCount()).toBe(writes);
    expect(stored()?.resources).toEqual([
      { change: ROLE, execution: "run-1", origin: "created", recordedAt: expect.any(String) },
      { change: TRUST, execution: "run-1", origin: "modified", recordedAt: expect.any(String) },
    ]);
    expect(stored()?.version).toBe(3);
  });

  it("lets two writers of one version interleave never: the second loses with RegistryConflict", async () => {
    await registry().beginRun(ACCOUNT, { execution: "run-1" });
    const [first, second] = [registry("First"), registry("Second")];
    // Both read version 1 …
    await first.get(ACCOUNT);
    await second.get(ACCOUNT);
    // … the first writes version 2; the second's write, on version 1, is refused.
    await first.recordChange(ACCOUNT, "run-1", ROLE);
    const error = await rejectionOf(second.recordChange(ACCOUNT, "run-1", TRUST));

    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("RegistryConflict");
    expect(error.message).toMatch(
      /^Second: registry item of account 222222222222 was written by another run/,
    );
    expect(stored()?.resources.map((e) => e.change)).toEqual([ROLE]);
    // Retried (a fresh read, as the state machine's retry makes), the change goes in.
    await registry().recordChange(ACCOUNT, "run-1", TRUST);
    expect(stored()?.resources.map((e) => e.change)).toEqual([ROLE, TRUST]);
  });

  it("refuses a change of a run the registry does not name as the running one", async () => {
    await registry().beginRun(ACCOUNT, { execution: "run-1" });
    const error = await rejectionOf(registry().recordChange(ACCOUNT, "run-0", ROLE));
    expect(error.name).toBe("ResourceConflict");
    expect(error.message).toContain("run-1 (running), not run-0");
    expect(stored()?.resources).toEqual([]);
  });

  it("ends a run active with the references Redis uses, or failed with the error's name; again changes nothing", async () => {
    const writer = registry();
    await writer.beginRun(ACCOUNT, { execution: "run-1" });
    await writer.recordChange(ACCOUNT, "run-1", ROLE);
    await writer.finish(ACCOUNT, "run-1", { status: "failed", error: "AccessDenied" });
    expect(stored()).toMatchObject({ status: "failed", lastOutcome: "failed", lastError: "AccessDenied" });

    const next = registry();
    await next.beginRun(ACCOUNT, { execution: "run-2" });
    expect(stored()).toMatchObject({ status: "onboarding", lastExecution: "run-2" });
    expect(stored()?.lastError).toBeUndefined();
    // What earlier runs recorded stays.
    expect(stored()?.resources.map((e) => e.execution)).toEqual(["run-1"]);
    const refs = {
      cloudAccountId: 12,
      accessKeyId: "AKIAEXAMPLE000000001",
      secretArn: "arn:aws:secretsmanager:x",
    };
    await next.finish(ACCOUNT, "run-2", { status: "active", ...refs });
    const writes = aws.writeCount();
    await registry().finish(ACCOUNT, "run-2", { status: "active", ...refs });

    expect(aws.writeCount()).toBe(writes);
    expect(stored()).toMatchObject({ status: "active", lastOutcome: "succeeded", ...refs });
  });

  it("keeps an onboarded account active when a later run fails, saying only that the run failed", async () => {
    const writer = registry();
    await writer.beginRun(ACCOUNT, { execution: "run-1" });
    await writer.finish(ACCOUNT, "run-1", {
      status: "active",
      cloudAccountId: 42,
      accessKeyId: "AKIAEXAMPLE000000001",
      secretArn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/222222222222-AbCdEf",
    });
    const rerun = registry();
    await rerun.beginRun(ACCOUNT, { execution: "run-2" });
    await rerun.finish(ACCOUNT, "run-2", { status: "failed", error: "AccessDenied" });

    expect(stored()).toMatchObject({
      status: "active",
      cloudAccountId: 42,
      lastExecution: "run-2",
      lastOutcome: "failed",
      lastError: "AccessDenied",
    });
  });

  it("forgets what a rollback undid, of that run only", async () => {
    const writer = registry();
    await writer.beginRun(ACCOUNT, { execution: "run-1" });
    await writer.recordChange(ACCOUNT, "run-1", ROLE);
    await writer.recordChange(ACCOUNT, "run-1", TRUST);
    await writer.forget(ACCOUNT, "run-1", [ROLE]);
    expect(stored()?.resources.map((e) => e.change)).toEqual([TRUST]);
  });

  it("refuses a malformed item by the field, never its value", async () => {
    const item = toItem({
      accountId: ACCOUNT,
      version: 1,
      status: "onboarding",
      lastExecution: "run-1",
      lastOutcome: "running",
      startedAt: "2026-01-01T00:00:00.000Z",
      updatedAt: "2026-01-01T00:00:00.000Z",
      resources: [
        { change: { type: "Role", name: "x" }, execution: "", origin: "created", recordedAt: "secret-ish" },
      ],
    });
    await aws
      .clients(HOME)
      .dynamodb()
      .send(new PutItemCommand({ TableName: REGISTRY_TABLE, Item: item }));

    const error = await rejectionOf(registry().get(ACCOUNT));

    expect(error.name).toBe("RegistryInvalid");
    expect(error.message).toMatch(/^registry item of account 222222222222: field resources\.0\.execution /);
    expect(error.message).not.toContain("secret-ish");
    expect(() => parseItem(ACCOUNT, { ...item, status: { S: "archived" } })).toThrow(/field status /);
  });

  it("stores plain JSON as DynamoDB attribute values and reads it back", () => {
    const value = {
      s: "a",
      n: 12,
      b: true,
      z: null,
      l: [1, "x"],
      m: { inner: [{ k: "v" }] },
      gone: undefined,
    };
    const { gone: _gone, ...expected } = value;
    expect(fromItem(toItem(value))).toEqual(expected);
    expect(toItem({ n: 12 })).toEqual({ n: { N: "12" } });
  });
});

describe("who started a run", () => {
  it.each([
    ["222222222222-vending-controltower", "vending:controltower"],
    ["222222222222-vending-organizations", "vending:organizations"],
    ["222222222222-api-20261121T1956Z", "http-api"],
    ["my-console-run", undefined],
    ["333333333333-vending-controltower", undefined],
  ])("%s: %s", (execution, by) => {
    expect(startedByOf("222222222222", execution)).toBe(by);
  });
});
