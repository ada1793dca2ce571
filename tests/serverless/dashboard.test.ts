import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FLEET_METRICS } from "../../functions/lib/fleet-metrics.ts";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../../functions/lib/powertools.ts";
import {
  functionRoleId,
  packagedTemplate,
  type Resource,
  resourcesOfType,
  roleStatements,
  type Template,
} from "../support/template.ts";

/*
 * The fleet's dashboard and alarms read only metrics the code emits, by the same namespace, name
 * and dimensions: the fleet metrics of functions/lib/fleet-metrics.ts, each with {service} only,
 * and SQS's own depth of the stack's dead-letter queues.
 */

const template = packagedTemplate() as Template & {
  Parameters: Record<string, { Default?: string; AllowedPattern?: string }>;
  Conditions: Record<string, unknown>;
};
const FLEET_NAMES = Object.values(FLEET_METRICS).map((m) => m.name);
const SERVICE = { service: SERVICE_NAME };
/** What a dashboard's queue name stands for until CloudFormation resolves it. */
const queueMarker = (id: string) => `<QueueName of ${id}>`;
const DEAD_LETTER_QUEUES = resourcesOfType(template, "AWS::SQS::Queue")
  .map(([id]) => id)
  .filter((id) => /DeadLetter/i.test(id));

interface MetricLine {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  options: { stat?: string; period?: number };
}

interface Widget {
  type: string;
  properties: {
    title: string;
    region: string;
    stat?: string;
    period?: number;
    metrics?: unknown[][];
  };
}

/** The DashboardBody, with Fn::Sub's variables put in as CloudFormation would (us-east-1). */
function dashboardWidgets(): Widget[] {
  const dashboards = resourcesOfType(template, "AWS::CloudWatch::Dashboard");
  expect(dashboards.map(([id]) => id)).toEqual(["FleetDashboard"]);
  const dashboard = dashboards[0]?.[1];
  if (!dashboard) throw new Error("no dashboard");
  const body = (dashboard.Properties.DashboardBody as { "Fn::Sub": [string, Record<string, unknown>] })[
    "Fn::Sub"
  ];
  const [text, variables] = body;
  const resolved = text.replace(/\$\{([\w:]+)\}/g, (_, name: string) => {
    if (name === "AWS::Region") return "us-east-1";
    const value = variables[name];
    if (typeof value === "string") return value;
    const [id, attribute] = (value as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"];
    expect(attribute, name).toBe("QueueName");
    return queueMarker(id);
  });
  return (JSON.parse(resolved) as { widgets: Widget[] }).widgets;
}

/** Each metric line of a widget: [namespace, name, dim, value, ..., {options}?]. */
function metricLines(widget: Widget): MetricLine[] {
  return (widget.properties.metrics ?? []).map((line) => {
    const last = line[line.length - 1];
    const options = typeof last === "object" && last !== null ? (last as MetricLine["options"]) : {};
    const parts = (typeof last === "object" ? line.slice(0, -1) : line) as string[];
    const [namespace = "", name = "", ...pairs] = parts;
    const dimensions: Record<string, string> = {};
    for (let i = 0; i < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1] as string;
    return { namespace, name, dimensions, options };
  });
}

/** A metric the code or the stack's queues emit; anything else would show an empty graph forever. */
function isEmitted(namespace: string, name: string, dimensions: Record<string, string>): boolean {
  if (namespace === METRICS_NAMESPACE) {
    return FLEET_NAMES.includes(name as never) && JSON.stringify(dimensions) === JSON.stringify(SERVICE);
  }
  if (namespace === "AWS/SQS") {
    const queues = DEAD_LETTER_QUEUES.map(queueMarker);
    return (
      name === "ApproximateNumberOfMessagesVisible" &&
      Object.keys(dimensions).join() === "QueueName" &&
      queues.includes(dimensions.QueueName as string)
    );
  }
  if (namespace === "AWS/States") {
    // Step Functions' own metric, by the ARN of a state machine of this stack.
    const arn = `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:`;
    const machine = String(dimensions.StateMachineArn ?? "");
    return (
      name === "ExecutionsFailed" &&
      Object.keys(dimensions).join() === "StateMachineArn" &&
      machine.startsWith(arn) &&
      STATE_MACHINE_NAMES.includes(machine.slice(arn.length))
    );
  }
  return false;
}

/** The names of the stack's state machines, as their resources give them. */
const STATE_MACHINE_NAMES = resourcesOfType(template, "AWS::StepFunctions::StateMachine").map(([, machine]) =>
  String(machine.Properties.StateMachineName),
);

const widgets = dashboardWidgets();
const lines = widgets.flatMap((w) => metricLines(w).map((line) => ({ widget: w, ...line })));
const linesOf = (name: string) => lines.filter((l) => l.name === name);
const statOf = (line: (typeof lines)[number]) => line.options.stat ?? line.widget.properties.stat;
const periodOf = (line: (typeof lines)[number]) => line.options.period ?? line.widget.properties.period;

describe("the fleet dashboard", () => {
  it("graphs only metrics that are emitted, with exactly the dimensions they are emitted with", () => {
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(
        isEmitted(line.namespace, line.name, line.dimensions),
        `${line.widget.properties.title}: ${line.namespace} ${line.name} ${JSON.stringify(line.dimensions)}`,
      ).toBe(true);
    }
  });

  it("shows every fleet metric the code emits", () => {
    const shown = new Set(lines.filter((l) => l.namespace === METRICS_NAMESPACE).map((l) => l.name));
    expect(FLEET_NAMES.filter((name) => !shown.has(name))).toEqual([]);
  });

  it("shows the depth of every dead-letter queue of the stack", () => {
    expect(DEAD_LETTER_QUEUES).toContain("VendingEventsDeadLetterQueue");
    const shown = lines.filter((l) => l.namespace === "AWS/SQS").map((l) => l.dimensions.QueueName);
    expect(shown.sort()).toEqual(DEAD_LETTER_QUEUES.map(queueMarker).sort());
  });

  it("is in the stack's region, every widget", () => {
    for (const widget of widgets) expect(widget.properties.region, widget.properties.title).toBe("us-east-1");
  });

  it("counts runs as sums, the duration as p50 and p95, the queue as its maximum, requests per minute", () => {
    for (const metric of ["onboardingStarted", "onboardingSucceeded", "onboardingFailed"] as const) {
      expect(linesOf(FLEET_METRICS[metric].name).map(statOf), metric).toEqual(["Sum"]);
    }
    expect(linesOf(FLEET_METRICS.onboardingDuration.name).map(statOf).sort()).toEqual(["p50", "p95"]);
    expect(linesOf(FLEET_METRICS.registrarQueueDepth.name).map(statOf)).toEqual(["Maximum"]);
    const requests = linesOf(FLEET_METRICS.redisRequests.name);
    expect(requests.map(statOf)).toEqual(["Sum"]);
    expect(requests.map(periodOf)).toEqual([60]);
    expect(linesOf(FLEET_METRICS.redisThrottled.name).map(statOf)).toEqual(["Sum"]);
    expect(linesOf(FLEET_METRICS.driftDetected.name).map(statOf)).toEqual(["Sum"]);
  });
});

const alarms = resourcesOfType(template, "AWS::CloudWatch::Alarm");

/** An alarm's metric as the dashboard's lines give theirs. */
function alarmMetric(alarm: Resource) {
  const { Namespace, MetricName, Dimensions } = alarm.Properties as {
    Namespace: string;
    MetricName: string;
    Dimensions: { Name: string; Value: unknown }[];
  };
  const dimensions = Object.fromEntries(
    Dimensions.map(({ Name, Value }) => {
      const getAtt = (Value as { "Fn::GetAtt"?: [string, string] })["Fn::GetAtt"];
      const sub = (Value as { "Fn::Sub"?: unknown })["Fn::Sub"];
      if (typeof sub === "string") return [Name, sub];
      return [Name, getAtt ? queueMarker(getAtt[0]) : String(Value)];
    }),
  );
  return { namespace: Namespace, name: MetricName, dimensions };
}

describe("the fleet alarms", () => {
  it("fire at a failed onboarding, a dead letter, a Redis 429, a drift found and a failed registrar loop", () => {
    const watched = alarms.map(([, alarm]) => alarmMetric(alarm).name).sort();
    const registrar = alarms
      .map(([, alarm]) => alarmMetric(alarm))
      .find((m) => m.name === "ExecutionsFailed");
    expect(registrar?.dimensions.StateMachineArn).toMatch(/:stateMachine:redis-cloud-byoc-[\w-]+-registrar$/);

    expect(watched).toEqual(
      expect.arrayContaining([
        FLEET_METRICS.onboardingFailed.name,
        FLEET_METRICS.redisThrottled.name,
        FLEET_METRICS.driftDetected.name,
        "ApproximateNumberOfMessagesVisible",
      ]),
    );
  });

  it("watch every dead-letter queue of the stack", () => {
    const queues = alarms
      .map(([, alarm]) => alarmMetric(alarm))
      .filter((metric) => metric.namespace === "AWS/SQS")
      .map((metric) => metric.dimensions.QueueName);
    expect(queues.sort()).toEqual(DEAD_LETTER_QUEUES.map(queueMarker).sort());
  });

  it("watch only emitted metrics, at one or more, no data counting as fine", () => {
    for (const [id, alarm] of alarms) {
      const metric = alarmMetric(alarm);
      expect(isEmitted(metric.namespace, metric.name, metric.dimensions), id).toBe(true);
      expect(alarm.Properties, id).toMatchObject({
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
        EvaluationPeriods: 1,
      });
    }
  });

  it("notify the AlarmTopicArn topic on alarm and on OK, and nothing when it is empty", () => {
    const actions = { "Fn::If": ["HasAlarmTopic", [{ Ref: "AlarmTopicArn" }], { Ref: "AWS::NoValue" }] };
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties.AlarmActions, id).toEqual(actions);
      expect(alarm.Properties.OKActions, id).toEqual(actions);
    }
    expect(template.Conditions.HasAlarmTopic).toEqual({
      "Fn::Not": [{ "Fn::Equals": [{ Ref: "AlarmTopicArn" }, ""] }],
    });
  });

  it("take the topic as an optional stack parameter: empty, or an SNS topic ARN", () => {
    const parameter = template.Parameters.AlarmTopicArn;
    expect(parameter?.Default).toBe("");
    const allowed = new RegExp(parameter?.AllowedPattern ?? "^$");

    expect(allowed.test("")).toBe(true);
    expect(allowed.test("arn:aws:sns:us-east-1:111111111111:platform-alarms")).toBe(true);
    expect(allowed.test("arn:aws:sqs:us-east-1:111111111111:platform-alarms")).toBe(false);
    expect(allowed.test("platform-alarms")).toBe(false);
  });

  it("get the parameter from the serverless param alarmTopicArn, empty by default", () => {
    const config = readFileSync("serverless.yml", "utf8");

    expect(config).toMatch(/\n {4}alarmTopicArn: ""\n/);
    expect(config).toMatch(/- ParameterKey: AlarmTopicArn\n\s+ParameterValue: \$\{param:alarmTopicArn\}\n/);
  });
});

describe("the fleet routes", () => {
  const statementsOf = (fn: string) =>
    roleStatements(template, functionRoleId(template, fn)).filter((s) =>
      [s.Action].flat().some((a) => String(a).startsWith("dynamodb:")),
    );
  const registry = { "Fn::GetAtt": ["AccountRegistryTable", "Arn"] };

  it("let GET /accounts scan the registry and GET /accounts/{accountId} read one item, nothing else", () => {
    expect(statementsOf("HttpListAccountsLambdaFunction")).toEqual([
      { Effect: "Allow", Action: ["dynamodb:Scan"], Resource: registry },
    ]);
    expect(statementsOf("HttpGetAccountLambdaFunction")).toEqual([
      { Effect: "Allow", Action: ["dynamodb:GetItem"], Resource: registry },
    ]);
  });

  it("are IAM-authorized", () => {
    const routes = resourcesOfType(template, "AWS::ApiGatewayV2::Route")
      .map(([, route]) => route.Properties)
      .filter((p) => String(p.RouteKey).includes("/accounts"));

    expect(routes.map((p) => p.RouteKey).sort()).toEqual(
      expect.arrayContaining(["GET /accounts", "GET /accounts/{accountId}"]),
    );
    for (const route of routes) expect(route.AuthorizationType, String(route.RouteKey)).toBe("AWS_IAM");
  });
});
