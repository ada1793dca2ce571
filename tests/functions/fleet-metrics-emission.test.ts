import { afterEach, describe, expect, it } from "vitest";
import { FLEET_METRICS } from "../../functions/lib/fleet-metrics.ts";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../../functions/lib/powertools.ts";
import { TickMeter } from "../../functions/lib/registrar-metrics.ts";
import { budgetedFetch, RequestBudget } from "../../functions/lib/registrar-redis.ts";
import { recordFailure } from "../../functions/record-failure.ts";
import { recordStart } from "../../functions/record-start.ts";
import { recordSuccess } from "../../functions/record-success.ts";
import { awsError } from "../../local/aws/index.ts";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { EXECUTION, stepInput, TARGET } from "../support/aws.ts";
import { emittedDuring, metricsOf } from "../support/emf.ts";

const SECRET_ARN =
  "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/222222222222-AbCdEf";
const fleet = async (act: () => unknown) =>
  metricsOf(await emittedDuring(act)).filter((m) =>
    Object.values(FLEET_METRICS).some((f) => f.name === m.name),
  );
const valuesOf = (metrics: Awaited<ReturnType<typeof fleet>>, name: string) =>
  metrics.filter((m) => m.name === name).map((m) => m.value);

describe("the record steps emit the fleet's onboarding metrics", () => {
  it("RecordStart counts a run begun", async () => {
    const registry = { beginRun: async () => undefined };

    const metrics = await fleet(() => recordStart(stepInput(), { registry }));

    expect(metrics).toEqual([
      {
        name: "OnboardingRunsStarted",
        value: 1,
        namespace: METRICS_NAMESPACE,
        dimensions: [["service"]],
        service: SERVICE_NAME,
      },
    ]);
  });

  it("RecordSuccess counts a success and its duration in seconds from the execution's start", async () => {
    const registry = { finish: async () => undefined };
    const input = {
      ...stepInput(),
      cloudAccountId: 4242,
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretArn: SECRET_ARN,
      executionStartedAt: "2026-11-21T19:56:54.000Z",
    };

    const metrics = await fleet(() =>
      recordSuccess(input, { registry, now: () => new Date("2026-11-21T20:04:10.500Z") }),
    );

    expect(valuesOf(metrics, "OnboardingRunsSucceeded")).toEqual([1]);
    expect(valuesOf(metrics, "OnboardingDuration")).toEqual([436.5]);
    expect(metrics.every((m) => JSON.stringify(m.dimensions) === '[["service"]]')).toBe(true);
  });

  it("RecordSuccess without the execution's start measures from the registry's start of the run", async () => {
    const registry = { finish: async () => ({ startedAt: "2026-11-21T20:00:00.000Z" }) as never };
    const input = {
      ...stepInput(),
      cloudAccountId: 4242,
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretArn: SECRET_ARN,
    };

    const metrics = await fleet(() =>
      recordSuccess(input, { registry, now: () => new Date("2026-11-21T20:01:00Z") }),
    );

    expect(valuesOf(metrics, "OnboardingDuration")).toEqual([60]);
  });

  it("RecordFailure counts a failed run", async () => {
    const registry = { finish: async () => undefined };

    const metrics = await fleet(() =>
      recordFailure({ ...stepInput(), execution: EXECUTION, error: "AccessDenied" }, { registry }),
    );

    expect(metrics.map((m) => [m.name, m.value])).toEqual([["OnboardingRunsFailed", 1]]);
  });
});

describe("the registrar tick's meter", () => {
  it("counts every request sent below the budget, and every 429, and reports them with the queue's depth", async () => {
    const answers = [429, 200, 429, 200];
    const fetchImpl = (async () =>
      new Response("{}", {
        status: answers.shift() ?? 200,
        headers: { "retry-after": "0" },
      })) as typeof fetch;
    const reported: [string, number][] = [];
    const meter = new TickMeter((metric, value) => reported.push([metric, value]));
    const budget = new RequestBudget(
      { sent: [] },
      { perMinute: 100, now: () => 0, sleep: async () => {}, deadline: 60_000 },
    );
    const send = budgetedFetch(budget, meter.count(fetchImpl));

    await send("https://api.redislabs.com/v1/tasks");
    await send("https://api.redislabs.com/v1/cloud-accounts");
    meter.report(3);

    expect(reported).toEqual([
      ["registrarQueueDepth", 3],
      ["redisRequests", 4],
      ["redisThrottled", 2],
    ]);
  });
});

describe("an onboarding run in the local environment", () => {
  let env: LocalEnvironment | undefined;
  afterEach(async () => {
    await env?.close();
    env = undefined;
  });

  it("emits started, succeeded, its duration and the registrar's numbers, each with {service} only", async () => {
    env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
    const local = env;
    let status = "";

    const metrics = await fleet(async () => {
      status = (await local.run({ accountId: TARGET })).status;
    });

    expect(status).toBe("SUCCEEDED");
    expect(valuesOf(metrics, "OnboardingRunsStarted")).toEqual([1]);
    expect(valuesOf(metrics, "OnboardingRunsSucceeded")).toEqual([1]);
    expect(valuesOf(metrics, "OnboardingRunsFailed")).toEqual([]);
    expect(valuesOf(metrics, "OnboardingDuration")).toHaveLength(1);
    const requests = valuesOf(metrics, "RedisRequests") as number[];
    expect(requests.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(valuesOf(metrics, "RegistrarQueueDepth").length).toBe(requests.length);
    expect(valuesOf(metrics, "RegistrarQueueDepth").at(-1)).toBe(0);
    for (const metric of metrics) expect(metric.dimensions, metric.name).toEqual([["service"]]);
  });

  it("emits a failed run when the onboarding fails and rolls back", async () => {
    env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
    env.aws.fail(
      (call) => call.command === "CreateRole" && call.input.RoleName === "redislabs-role",
      () => awsError("iam", "AccessDenied", "denied by an SCP"),
    );
    const local = env;

    const metrics = await fleet(() => local.run({ accountId: TARGET }));

    expect(valuesOf(metrics, "OnboardingRunsFailed")).toEqual([1]);
    expect(valuesOf(metrics, "OnboardingRunsSucceeded")).toEqual([]);
  });
});
