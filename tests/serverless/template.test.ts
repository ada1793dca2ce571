import { describe, expect, it } from "vitest";
import { loadDefinition } from "../../local/workflow.ts";
import { resolveIntrinsics } from "../support/cfn.ts";
import {
  functionRoleId,
  isRuntimeStatement,
  packagedTemplate,
  type Resource,
  resourcesOfType,
  roleStatements,
  type Template,
} from "../support/template.ts";

const template: Template = packagedTemplate();
const definition = loadDefinition();
const functions = resourcesOfType(template, "AWS::Lambda::Function");
const IAM_STEPS = [
  "EnsureInstancePolicyLambdaFunction",
  "EnsureNodeRoleLambdaFunction",
  "EnsureUserPolicyLambdaFunction",
  "EnsureUserLambdaFunction",
  "EnsureConsoleRoleLambdaFunction",
];

const actionsOf = (statement: Record<string, unknown>) => [statement.Action].flat() as string[];
const text = (value: unknown) => JSON.stringify(value);

describe("the packaged template", () => {
  it("has one STANDARD state machine that is statemachine/onboarding.asl.yml, each Lambda by its function", () => {
    const machines = resourcesOfType(template, "AWS::StepFunctions::StateMachine");
    expect(machines).toHaveLength(1);
    const [, machine] = machines[0] ?? [];
    if (!machine) throw new Error("no state machine in the template");
    expect(machine.Properties.StateMachineType ?? "STANDARD").toBe("STANDARD");
    const [body, refs] = (
      machine.Properties.DefinitionString as { "Fn::Sub": [string, Record<string, unknown>] }
    )["Fn::Sub"];
    // Put the function references back the way the file writes them, then compare whole documents.
    const restored = JSON.parse(body.replace(/"\$\{(\w+)\}"/g, (_, key: string) => text(refs[key])));
    const expected = JSON.parse(
      text(definition).replace(/\{"Fn::GetAtt":\["(\w+)","Arn"\]\}/g, (_, fn: string) =>
        text({ "Fn::GetAtt": [`${fn[0]?.toUpperCase()}${fn.slice(1)}LambdaFunction`, "Arn"] }),
      ),
    );
    expect(restored).toEqual(expected);
  });

  it("keeps the states' data out of the state machine's logs", () => {
    const [[, machine] = []] = resourcesOfType(template, "AWS::StepFunctions::StateMachine");
    expect(machine?.Properties.LoggingConfiguration).toMatchObject({ IncludeExecutionData: false });
  });

  it("runs every function on nodejs22.x with an ESM bundle", () => {
    expect(functions.length).toBeGreaterThanOrEqual(6);
    for (const [, fn] of functions) {
      expect(fn.Properties.Runtime).toBe("nodejs22.x");
      expect(String(fn.Properties.Handler)).toMatch(/\.(handler|[a-z]+Handler)$/);
    }
  });

  it("gives every function a role of its own", () => {
    const roles = functions.map(([id]) => functionRoleId(template, id));
    expect(roles.every((role) => role !== "")).toBe(true);
    expect(new Set(roles).size).toBe(functions.length);
  });

  it("lets the IAM steps assume only the configured role names in target accounts", () => {
    for (const fn of IAM_STEPS) {
      const assume = roleStatements(template, functionRoleId(template, fn)).filter((s) =>
        actionsOf(s).includes("sts:AssumeRole"),
      );
      expect(assume).toHaveLength(1);
      const stack = {
        partition: "aws",
        region: "us-east-1",
        accountId: "111111111111",
        refs: {},
        attributes: {},
      };
      expect(resolveIntrinsics(assume[0]?.Resource, stack)).toEqual([
        "arn:aws:iam::*:role/OrganizationAccountAccessRole",
        "arn:aws:iam::*:role/AWSControlTowerExecution",
      ]);
    }
  });

  it("grants no wildcard IAM or Secrets Manager action and no action on all resources but the password policy read", () => {
    for (const fn of IAM_STEPS) {
      const statements = roleStatements(template, functionRoleId(template, fn)).filter(
        (statement) => !isRuntimeStatement(statement),
      );
      for (const statement of statements) {
        expect(actionsOf(statement).some((a) => a.endsWith(":*") || a === "*")).toBe(false);
        if (statement.Resource === "*")
          expect(actionsOf(statement)).toEqual(["iam:GetAccountPasswordPolicy"]);
      }
    }
  });

  it("lets only EnsureUser touch Secrets Manager, and only under the project's prefix", () => {
    for (const [id] of functions) {
      const statements = roleStatements(template, functionRoleId(template, id)).filter((s) =>
        actionsOf(s).some((a) => a.startsWith("secretsmanager:")),
      );
      if (id !== "EnsureUserLambdaFunction") {
        expect(statements.flatMap(actionsOf).filter((a) => a.startsWith("secretsmanager:Create"))).toEqual(
          [],
        );
        continue;
      }
      expect(statements).toHaveLength(1);
      expect(text(statements[0]?.Resource)).toContain(":secret:redis-cloud/byoc/*");
    }
  });

  it("lets the state machine only put and delete items of the lock table", () => {
    const [[, machine] = []] = resourcesOfType(template, "AWS::StepFunctions::StateMachine");
    const roleArn = machine?.Properties.RoleArn as { "Fn::GetAtt"?: [string, string] } | undefined;
    const roleId = roleArn?.["Fn::GetAtt"]?.[0] ?? "";
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

  it("lets only the steps that record runs touch DynamoDB: GetItem and PutItem of the registry table (RetireOldKey: GetItem)", () => {
    const recording = [
      ...IAM_STEPS,
      "RecordStartLambdaFunction",
      "RecordSuccessLambdaFunction",
      "RecordFailureLambdaFunction",
      // The registration is recorded before the POST, and its cloud account once known.
      "RegisterCloudAccountLambdaFunction",
      "CheckRegistrationLambdaFunction",
      "RollbackLambdaFunction",
    ];
    // A plan, and the check before a run's first write, read what the product owns; RetireOldKey
    // reads which key the run's registration replaced. Neither writes there.
    const reading = ["PlanOnboardingLambdaFunction", "RetireOldKeyLambdaFunction"];
    for (const [id, fn] of functions) {
      const statements = roleStatements(template, functionRoleId(template, id)).filter((s) =>
        actionsOf(s).some((a) => a.startsWith("dynamodb:")),
      );
      if (reading.includes(id)) {
        expect(statements, id).toEqual([
          {
            Effect: "Allow",
            Action: ["dynamodb:GetItem"],
            Resource: { "Fn::GetAtt": ["AccountRegistryTable", "Arn"] },
          },
        ]);
        continue;
      }
      if (!recording.includes(id)) {
        expect(statements, id).toEqual([]);
        continue;
      }
      expect(statements, id).toEqual([
        {
          Effect: "Allow",
          Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
          Resource: { "Fn::GetAtt": ["AccountRegistryTable", "Arn"] },
        },
      ]);
      const environment = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(environment.REGISTRY_TABLE_NAME, id).toEqual({ Ref: "AccountRegistryTable" });
    }
  });

  it("keeps the registry table: point-in-time recovery, encryption, retained on delete and replace", () => {
    const table = template.Resources.AccountRegistryTable as Resource & {
      DeletionPolicy?: string;
      UpdateReplacePolicy?: string;
    };
    expect(table.Type).toBe("AWS::DynamoDB::Table");
    expect(table.DeletionPolicy).toBe("Retain");
    expect(table.UpdateReplacePolicy).toBe("Retain");
    expect(table.Properties).toMatchObject({
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [{ AttributeName: "accountId", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "accountId", AttributeType: "S" }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it("lets the validation step do nothing but write its logs and traces", () => {
    const statements = roleStatements(template, functionRoleId(template, "ValidateInputLambdaFunction"));
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.every(isRuntimeStatement)).toBe(true);
  });

  it("lets AuthorizeTarget only read accounts and their parents in Organizations, with both allow-lists", () => {
    const id = "AuthorizeTargetLambdaFunction";
    const statements = roleStatements(template, functionRoleId(template, id)).filter(
      (statement) => !isRuntimeStatement(statement),
    );
    // "*" because Organizations' account reads take no resource-level permission.
    expect(statements).toEqual([
      {
        Effect: "Allow",
        Action: ["organizations:DescribeAccount", "organizations:ListParents"],
        Resource: "*",
      },
    ]);
    const environment = text(functions.find(([name]) => name === id)?.[1].Properties.Environment);
    expect(environment).toContain("ALLOWED_ACCOUNT_IDS");
    expect(environment).toContain("ALLOWED_OU_IDS");
  });

  it("traces every function with X-Ray, each role allowed to send its segments", () => {
    for (const [id, fn] of functions) {
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: "Active" });
      const statements = roleStatements(template, functionRoleId(template, id));
      expect(
        statements.some((s) => isRuntimeStatement(s) && [s.Action].flat().includes("xray:PutTraceSegments")),
        id,
      ).toBe(true);
    }
  });
});
