import { describe, expect, it } from "vitest";
import { resolveIntrinsics } from "../support/cfn.ts";
import {
  actionsOf,
  functionRoleId,
  packagedTemplate,
  type Resource,
  roleStatements,
  TEST_STACK,
  type Template,
} from "../support/template.ts";

/* Credential rotation in the packaged template: its machine, its schedule, its HTTP route. */

const template: Template = packagedTemplate();
const resource = (id: string): Resource => {
  const found = template.Resources[id];
  if (!found) throw new Error(`no resource ${id}`);
  return found;
};

describe("the rotation in the packaged template", () => {
  it("is a STANDARD state machine with its own log group, no state data in its logs", () => {
    const machine = resource("RotationStateMachine");
    expect(machine.Properties.StateMachineName).toBe("redis-cloud-byoc-test-rotation");
    expect(machine.Properties.LoggingConfiguration).toMatchObject({
      IncludeExecutionData: false,
      Destinations: [
        {
          CloudWatchLogsLogGroup: { LogGroupArn: { "Fn::GetAtt": ["RotationStateMachineLogGroup", "Arn"] } },
        },
      ],
    });
    expect(resource("RotationStateMachineLogGroup").Properties.LogGroupName).toBe(
      "/aws/vendedlogs/states/redis-cloud-byoc-test-rotation",
    );
  });

  it("takes the onboarding's lock: the rotation machine may put and delete items of the lock table only", () => {
    const roleId = (resource("RotationStateMachine").Properties.RoleArn as { "Fn::GetAtt": [string] })[
      "Fn::GetAtt"
    ][0];
    const dynamo = roleStatements(template, roleId).filter((s) =>
      actionsOf(s).some((a) => a.startsWith("dynamodb:")),
    );
    expect(dynamo).toEqual([
      {
        Effect: "Allow",
        Action: ["dynamodb:PutItem", "dynamodb:DeleteItem"],
        Resource: [{ "Fn::GetAtt": ["AccountLocksTable", "Arn"] }],
      },
    ]);
  });

  it("is scheduled every rotationDays (90) through its starter, with retries and a dead-letter queue", () => {
    const schedule = resource("RotationSchedule");
    expect(schedule.Type).toBe("AWS::Scheduler::Schedule");
    expect(schedule.Properties.ScheduleExpression).toBe("rate(90 days)");
    expect(schedule.Properties.Target).toMatchObject({
      Arn: { "Fn::GetAtt": ["StartScheduledRotationsLambdaFunction", "Arn"] },
      RoleArn: { "Fn::GetAtt": ["RotationScheduleRole", "Arn"] },
      RetryPolicy: { MaximumRetryAttempts: 3 },
      DeadLetterConfig: { Arn: { "Fn::GetAtt": ["RotationScheduleDeadLetterQueue", "Arn"] } },
    });
    const statements = roleStatements(template, "RotationScheduleRole");
    expect(statements.map((s) => [actionsOf(s), s.Resource])).toEqual([
      [["lambda:InvokeFunction"], { "Fn::GetAtt": ["StartScheduledRotationsLambdaFunction", "Arn"] }],
      [["sqs:SendMessage"], { "Fn::GetAtt": ["RotationScheduleDeadLetterQueue", "Arn"] }],
    ]);
    const starter = resource("StartScheduledRotationsLambdaFunction").Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(resolveIntrinsics(starter.Variables.ROTATION_STATE_MACHINE_ARN, TEST_STACK)).toBe(
      "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-rotation",
    );
  });

  it("answers POST /accounts/{accountId}/rotations, IAM-authorized", () => {
    const routes = Object.values(template.Resources).filter((r) => r.Type === "AWS::ApiGatewayV2::Route");
    const route = routes.find((r) => r.Properties.RouteKey === "POST /accounts/{accountId}/rotations");
    expect(route?.Properties.AuthorizationType).toBe("AWS_IAM");
  });

  it("lets only the undo and the key's creator read a credentials secret among the rotation's functions", () => {
    const reads = (fn: string) =>
      roleStatements(template, functionRoleId(template, `${fn}LambdaFunction`)).some((s) =>
        actionsOf(s).includes("secretsmanager:GetSecretValue"),
      );
    expect(["RotateCreateKey", "RotateUndo"].map(reads)).toEqual([true, true]);
    expect(
      ["RotateValidate", "RotateBegin", "RotatePromote", "RotateOldKey", "RotateFinish"].map(reads),
    ).toEqual([false, false, false, false, false]);
  });
});
