import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { ListExecutionsCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readSettings } from "../../functions/lib/config.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { Registry, toItem } from "../../functions/lib/registry.ts";
import { VENDING_SETTINGS } from "../../functions/lib/vending-decision.ts";
import { createHandler, type StarterDeps } from "../../functions/start-from-event.ts";
import {
  HOME,
  type LocalEnvironment,
  REGISTRY_TABLE,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import ctUpdate from "../fixtures/events/controltower-update-managed-account.json" with { type: "json" };
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";

/*
 * A landing-zone update re-sends UpdateManagedAccount for every account it manages. For accounts
 * the registry says are active and that a reconcile found clean within the window, the vending
 * starter starts nothing: no onboarding, hence no Redis request. Two accounts are onboarded and
 * reconciled for real; the rest of the 1,000 are registry items made from the first one's, as a
 * fleet onboarded and reconciled the same way would have them.
 */

const FLEET = 1_000;
const A = "222222222222";
const B = "333333333333";
const sfnMock = mockClient(SFNClient);
const context = lambdaContext("111111111111", "redis-cloud-byoc-test-startFromEvent");

let env: LocalEnvironment;
/** The onboardings the starter started, each run to its end against the local Redis API. */
let started: string[];

beforeAll(async () => {
  forgetRedisApiKeys();
  env = await startLocalEnvironment({ targets: [A, B], aws: { keyPropagationMs: 0 } });
  for (const accountId of [A, B]) expect((await env.run({ accountId })).status).toBe("SUCCEEDED");
  expect((await env.runWorkflow("reconcile", {})).output).toMatchObject({ totals: { clean: 2 } });
  const onboarded = registryItemOf(env.aws.account(HOME.accountId).dynamodb, A);
  const dynamodb = env.runtime.clients.dynamodb();
  for (const accountId of fleet().slice(2)) {
    const item = { ...onboarded, accountId, cloudAccountId: 10_000 + Number(accountId.slice(-4)) };
    await dynamodb.send(new PutItemCommand({ TableName: REGISTRY_TABLE, Item: toItem(item) }));
  }
});
afterAll(() => env.close());

beforeEach(() => {
  started = [];
  sfnMock.reset();
  sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
  sfnMock.on(StartExecutionCommand).callsFake(async (input: { name: string; input: string }) => {
    started.push(input.name);
    await env.run(JSON.parse(input.input));
    return { executionArn: executionArn(STATE_MACHINE_ARN, input.name), startDate: new Date() };
  });
});
afterEach(() => sfnMock.reset());

/** A, B, then 998 more account ids. */
function fleet(): string[] {
  return [A, B, ...Array.from({ length: FLEET - 2 }, (_, i) => String(500_000_000_000 + i))];
}

const updateEventFor = (accountId: string) => {
  const event = structuredClone(ctUpdate);
  event.detail.serviceEventDetails.updateManagedAccountStatus.account.accountId = accountId;
  return event;
};

function starter(windowHours = 24) {
  const deps: StarterDeps = {
    sfn: new SFNClient({ region: HOME.region }),
    stateMachineArn: STATE_MACHINE_ARN,
    settings: readSettings(VENDING_SETTINGS, {}),
    storm: {
      registry: new Registry(env.runtime.clients.dynamodb(), REGISTRY_TABLE, "StartFromEvent"),
      windowMs: windowHours * 3_600_000,
      now: () => new Date(),
    },
  };
  return createHandler(() => deps);
}

describe("a storm of UpdateManagedAccount events", () => {
  it(`for ${FLEET} onboarded accounts reconciled clean makes zero Redis requests and starts nothing`, async () => {
    // Prepare
    const handler = starter();
    const redisFrom = env.redis.state.requests.length;

    // Act
    const results = [];
    for (const accountId of fleet()) results.push(await handler(updateEventFor(accountId), context));

    // Assess
    expect(results).toHaveLength(FLEET);
    expect(new Set(results.map((r) => r.outcome))).toEqual(new Set(["already reconciled"]));
    expect(started).toEqual([]);
    expect(env.redis.state.requests.length - redisFrom).toBe(0);
  });

  it("still onboards an account whose last reconcile found drift", async () => {
    // Prepare
    const item = registryItemOf(env.aws.account(HOME.accountId).dynamodb, B);
    const drift = [{ kind: "AttachmentMissing", resource: "redislabs-role", detail: "by hand" }];
    await env.runtime.clients
      .dynamodb()
      .send(new PutItemCommand({ TableName: REGISTRY_TABLE, Item: toItem({ ...item, drift }) }));

    // Act
    const result = await starter()(updateEventFor(B), context);

    // Assess
    expect(result.outcome).not.toBe("already reconciled");
    expect(started).toHaveLength(1);
  });

  it("starts as before once the reconcile is older than the window (0 hours: always)", async () => {
    // Act
    const result = await starter(0)(updateEventFor(A), context);

    // Assess
    expect(result.outcome).not.toBe("already reconciled");
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });
});
