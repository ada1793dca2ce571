import { describe, expect, it } from "vitest";
import {
  actionsOf,
  functionRoleId,
  packagedTemplate,
  roleStatements,
  type Template,
} from "../support/template.ts";

/*
 * The scheduled reconcile as deployed: a schedule of EventBridge Scheduler whose expression and
 * input are the stack's parameters, a role that may start the reconcile and nothing else, the
 * reconcile's own role and log group, and the vending starter's storm window.
 */

const template: Template = packagedTemplate();
const resource = (id: string) => {
  const found = template.Resources[id];
  if (!found) throw new Error(`no resource ${id}`);
  return found;
};
const allActions = (statements: Record<string, unknown>[]) => statements.flatMap(actionsOf).sort();
const inlineStatements = (roleId: string) =>
  (
    resource(roleId).Properties.Policies as { PolicyDocument: { Statement: Record<string, unknown>[] } }[]
  ).flatMap((p) => p.PolicyDocument.Statement);

describe("the reconcile's schedule", () => {
  const schedule = resource("ReconcileSchedule");
  const target = schedule.Properties.Target as Record<string, unknown>;

  it("runs daily by default (parameter reconcileSchedule) and starts the reconcile state machine", () => {
    expect(schedule.Type).toBe("AWS::Scheduler::Schedule");
    expect(schedule.Properties.ScheduleExpression).toBe("rate(1 day)");
    expect(schedule.Properties.State).toBe("ENABLED");
    expect(target.Arn).toEqual({ Ref: "ReconcileStateMachine" });
  });

  it("passes repairDrift (parameter, false by default) in its input, valid JSON the reconcile accepts", () => {
    expect(JSON.parse(String(target.Input))).toEqual({ repairDrift: false });
  });

  it("uses a role that only the Scheduler of this account may assume, and that only starts the reconcile", () => {
    expect(target.RoleArn).toEqual({ "Fn::GetAtt": ["ReconcileScheduleRole", "Arn"] });
    const trust = resource("ReconcileScheduleRole").Properties.AssumeRolePolicyDocument as {
      Statement: Record<string, unknown>[];
    };
    expect(trust.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: "scheduler.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
      }),
    ]);
    expect(inlineStatements("ReconcileScheduleRole")).toEqual([
      { Effect: "Allow", Action: "states:StartExecution", Resource: { Ref: "ReconcileStateMachine" } },
    ]);
  });
});

describe("the reconcile state machine", () => {
  const machine = resource("ReconcileStateMachine");

  it("logs errors only, never the states' data, in its own log group", () => {
    const logging = machine.Properties.LoggingConfiguration as Record<string, unknown>;
    expect(logging).toMatchObject({ Level: "ERROR", IncludeExecutionData: false });
    expect(JSON.stringify(logging.Destinations)).toContain("ReconcileStateMachineLogGroup");
    expect(resource("ReconcileStateMachineLogGroup").Properties.LogGroupName).toMatch(/-reconcile$/);
  });

  it("may invoke its two functions and the registrar's hand-over, and no other function", () => {
    const invoke = inlineStatements("ReconcileStateMachineRole").filter((s) =>
      actionsOf(s).includes("lambda:InvokeFunction"),
    );
    expect(invoke).toEqual([
      {
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: [
          { "Fn::GetAtt": ["ListReconcilePageLambdaFunction", "Arn"] },
          { "Fn::GetAtt": ["ReconcileAccountLambdaFunction", "Arn"] },
          { "Fn::GetAtt": ["SubmitToRegistrarLambdaFunction", "Arn"] },
        ],
      },
    ]);
  });

  it("starts only the onboarding (to repair) and itself (its relay), and writes nothing else", () => {
    const statements = inlineStatements("ReconcileStateMachineRole");
    const start = statements.find((s) => actionsOf(s).includes("states:StartExecution"));
    expect(JSON.stringify(start?.Resource)).toContain("OnboardingStateMachine");
    expect(JSON.stringify(start?.Resource)).toContain("-reconcile");
    expect(allActions(statements.filter((s) => s.Resource !== "*"))).toEqual([
      "events:DescribeRule",
      "events:PutEvents",
      "events:PutRule",
      "events:PutTargets",
      "lambda:InvokeFunction",
      "states:DescribeExecution",
      "states:StartExecution",
      "states:StopExecution",
    ]);
    // What needs "*" is the log delivery and X-Ray only.
    for (const s of statements.filter((s) => s.Resource === "*")) {
      for (const action of actionsOf(s)) expect(action).toMatch(/^(logs|xray):/);
    }
  });
});

describe("the reconcile's functions and the vending starter", () => {
  const fn = (id: string) => resource(id).Properties;

  it("lets ReconcileAccount read IAM in target accounts through the allowed roles, the home account's by its own, and write no IAM", () => {
    const statements = roleStatements(template, functionRoleId(template, "ReconcileAccountLambdaFunction"));
    const actions = allActions(statements);
    expect(actions).toContain("sts:AssumeRole");
    // The home account's (an onboarding of `{}`): reads only.
    expect(actions).toContain("iam:GetRole");
    expect(actions.filter((a) => a.startsWith("iam:")).every((a) => /^iam:(Get|List)/.test(a))).toBe(true);
    expect(actions.filter((a) => a.startsWith("secretsmanager:"))).toEqual([
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetResourcePolicy",
      "secretsmanager:GetSecretValue",
    ]);
  });

  it("hands the vending starter its storm window (parameter stormWindowHours, 24 by default) and the registry", () => {
    const environment = (
      fn("StartFromEventLambdaFunction").Environment as { Variables: Record<string, unknown> }
    ).Variables;
    expect(environment.STORM_WINDOW_HOURS).toBe("24");
    expect(environment.REGISTRY_TABLE_NAME).toEqual({ Ref: "AccountRegistryTable" });
  });
});
