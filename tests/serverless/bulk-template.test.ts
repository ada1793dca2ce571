import { describe, expect, it } from "vitest";
import { loadDefinition } from "../../local/workflow.ts";
import { resolveIntrinsics } from "../support/cfn.ts";
import {
  actionsOf,
  functionGrants,
  functionRoleId,
  isRuntimeStatement,
  packagedTemplate,
  type Resource,
  resourcesOfType,
  roleStatements,
  TEST_STACK,
  type Template,
} from "../support/template.ts";

/* The bulk onboarding as packaged: its Distributed Map, its concurrency setting, its role, its routes. */

const template: Template = packagedTemplate();
const definition = loadDefinition("bulk-onboarding");
const STACK = {
  ...TEST_STACK,
  refs: { OnboardingStateMachine: "onboarding-machine" },
  attributes: { "BulkPlanLambdaFunction.Arn": "bulk-plan", "BulkSummaryLambdaFunction.Arn": "bulk-summary" },
};
const text = (value: unknown) => JSON.stringify(value);
const logicalId = (fn: string) => `${fn[0]?.toUpperCase()}${fn.slice(1)}LambdaFunction`;

const machine = template.Resources.BulkOnboardingStateMachine as Resource;
const roleId = (machine.Properties.RoleArn as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
const statements = roleStatements(template, roleId);
const resolved = (value: unknown) => resolveIntrinsics(value, STACK);
const ONBOARDING_EXECUTIONS =
  "arn:aws:states:us-east-1:111111111111:execution:redis-cloud-byoc-test-onboarding:*";
const BULK_ARN = "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-bulk-onboarding";

const map = definition.States.OnboardEach as Record<string, unknown> & {
  ItemProcessor: { ProcessorConfig: unknown; States: Record<string, Record<string, unknown>> };
};

describe("the bulk onboarding state machine, packaged", () => {
  it("is a STANDARD machine of its own file, logging errors without the states' data to its own log group", () => {
    expect(machine.Type).toBe("AWS::StepFunctions::StateMachine");
    expect(machine.Properties.StateMachineType ?? "STANDARD").toBe("STANDARD");
    const [body, refs] = (
      machine.Properties.DefinitionString as { "Fn::Sub": [string, Record<string, unknown>] }
    )["Fn::Sub"];
    const restored = JSON.parse(body.replace(/"\$\{(\w+)\}"/g, (_, key: string) => text(refs[key])));
    const expected = JSON.parse(
      text(definition).replace(/\{"Fn::GetAtt":\["(\w+)","Arn"\]\}/g, (_, fn: string) =>
        text({ "Fn::GetAtt": [logicalId(fn), "Arn"] }),
      ),
    );
    expect(restored).toEqual(expected);
    expect(machine.Properties.LoggingConfiguration).toMatchObject({
      IncludeExecutionData: false,
      Level: "ERROR",
    });
    expect(text(machine.Properties.LoggingConfiguration)).toContain("BulkOnboardingStateMachineLogGroup");
    expect(template.Resources.BulkOnboardingStateMachineLogGroup?.Properties.LogGroupName).toBe(
      "/aws/vendedlogs/states/redis-cloud-byoc-test-bulk-onboarding",
    );
  });

  it("onboards through a Distributed Map of STANDARD children, its concurrency the bulkConcurrency parameter, no failure stopping it", () => {
    expect(map.Type).toBe("Map");
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: "DISTRIBUTED", ExecutionType: "STANDARD" });
    expect(map.ToleratedFailurePercentage).toBe(100);
    // The plan hands the Map the function's BULK_CONCURRENCY, which the parameter sets.
    expect(map.MaxConcurrencyPath).toBe("$.concurrency");
    expect(map.MaxConcurrency).toBeUndefined();
    const plan = template.Resources.BulkPlanLambdaFunction as Resource;
    const env = (plan.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.BULK_CONCURRENCY).toBe("50");
  });

  it("starts each onboarding with startExecution.sync:2 of the onboarding machine, under a name fixed by the account and the run", () => {
    const start = map.ItemProcessor.States.StartOnboarding as Record<string, unknown>;
    expect(start.Resource).toBe("arn:aws:states:::states:startExecution.sync:2");
    expect(start.Parameters).toMatchObject({
      StateMachineArn: { Ref: "OnboardingStateMachine" },
      "Name.$": "$.name",
    });
    expect((map.ItemSelector as Record<string, string>)["name.$"]).toBe(
      "States.Format('{}-bulk-{}', $$.Map.Item.Value, $.run)",
    );
    // A child's failure is caught into the item's result, never retried (it would start again).
    const retried = (start.Retry as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals);
    expect(retried).not.toContain("States.ALL");
    expect(retried).not.toContain("States.TaskFailed");
    expect(start.Catch).toEqual([
      { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "WhichFailure" },
    ]);
  });

  it("lets the machine do exactly what a Distributed Map with .sync:2 children needs, and publish its event", () => {
    const service = statements.filter(
      (s) => !(s.Resource === "*" && actionsOf(s).every((a) => /^(logs|xray):/.test(a))),
    );
    const grants = service.map((s) => ({
      actions: actionsOf(s).sort(),
      resources: [s.Resource].flat().map(resolved),
    }));
    expect(grants).toEqual([
      {
        actions: ["lambda:InvokeFunction"],
        resources: ["bulk-plan", "bulk-summary"],
      },
      { actions: ["states:StartExecution"], resources: ["onboarding-machine"] },
      { actions: ["states:DescribeExecution", "states:StopExecution"], resources: [ONBOARDING_EXECUTIONS] },
      {
        actions: ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
        resources: [
          "arn:aws:events:us-east-1:111111111111:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule",
        ],
      },
      { actions: ["states:StartExecution"], resources: [BULK_ARN] },
      {
        actions: ["states:DescribeExecution", "states:StopExecution"],
        resources: [
          "arn:aws:states:us-east-1:111111111111:execution:redis-cloud-byoc-test-bulk-onboarding/*",
        ],
      },
      {
        actions: ["events:PutEvents"],
        resources: ["arn:aws:events:us-east-1:111111111111:event-bus/default"],
      },
    ]);
    // Its own ARN by name: a Ref from its role to itself would be a circular dependency.
    expect(text(template.Resources[roleId])).not.toContain('"BulkOnboardingStateMachine"');
  });

  it("lets PlanBulk only list the organization and read the registry, and SummarizeBulk nothing", () => {
    const own = (fn: string) => functionGrants(template, fn);
    expect(own("BulkPlanLambdaFunction").map((s) => actionsOf(s).sort())).toEqual([
      ["dynamodb:GetItem"],
      [
        "organizations:ListAccountsForParent",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListRoots",
      ],
    ]);
    expect(own("BulkSummaryLambdaFunction")).toEqual([]);
  });

  it("serves POST /onboardings/bulk and GET /onboardings/bulk/{id}, IAM-authorized, whose function may start and read only bulk runs", () => {
    const routes = resourcesOfType(template, "AWS::ApiGatewayV2::Route")
      .map(([, route]) => route.Properties)
      .filter((route) => String(route.RouteKey).includes("/onboardings/bulk"));
    expect(routes.map((route) => [route.RouteKey, route.AuthorizationType]).sort()).toEqual([
      ["GET /onboardings/bulk/{id}", "AWS_IAM"],
      ["POST /onboardings/bulk", "AWS_IAM"],
    ]);
    const own = roleStatements(template, functionRoleId(template, "HttpBulkLambdaFunction")).filter(
      (s) => !isRuntimeStatement(s),
    );
    expect(own.map((s) => [actionsOf(s), resolved(s.Resource)])).toEqual([
      [["states:StartExecution"], BULK_ARN],
      [
        ["states:DescribeExecution"],
        "arn:aws:states:us-east-1:111111111111:execution:redis-cloud-byoc-test-bulk-onboarding:*",
      ],
    ]);
  });
});
