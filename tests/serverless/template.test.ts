import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadDefinition } from "../../local/workflow.ts";
import { resolveIntrinsics } from "../support/cfn.ts";
import {
  actionsOf,
  functionRoleId,
  isRuntimeStatement,
  packagedTemplate,
  type Resource,
  resourcesOfType,
  roleStatements,
  TEST_STACK,
  type Template,
} from "../support/template.ts";

const template: Template = packagedTemplate();
const definition = loadDefinition();
const registrarDefinition = parse(readFileSync("statemachine/registrar.asl.yml", "utf8")) as {
  States: Record<string, Record<string, unknown>>;
};
// --- Reconcile ---
const reconcileDefinition = loadDefinition("reconcile");
const functions = resourcesOfType(template, "AWS::Lambda::Function");
const IAM_STEPS = [
  "EnsureInstancePolicyLambdaFunction",
  "EnsureNodeRoleLambdaFunction",
  "EnsureUserPolicyLambdaFunction",
  "EnsureUserLambdaFunction",
  "EnsureConsoleRoleLambdaFunction",
];

const text = (value: unknown) => JSON.stringify(value);
/** A function's logical id from its serverless.yml name. */
const logicalId = (fn: string) => `${fn[0]?.toUpperCase()}${fn.slice(1)}LambdaFunction`;

function machineOf(id: string): Resource {
  const machine = template.Resources[id];
  if (machine?.Type !== "AWS::StepFunctions::StateMachine") throw new Error(`no state machine ${id}`);
  return machine;
}
const roleOf = (machine: Resource) =>
  (machine.Properties.RoleArn as { "Fn::GetAtt"?: [string, string] } | undefined)?.["Fn::GetAtt"]?.[0] ?? "";
const machineStatements = (id: string) => roleStatements(template, roleOf(machineOf(id)));
/** Step Functions' log delivery and X-Ray, which take no resource-level permission. */
const isDeliveryStatement = (statement: Record<string, unknown>) =>
  statement.Resource === "*" && actionsOf(statement).every((a) => /^(logs|xray):/.test(a));

describe("the packaged template", () => {
  it("has two STANDARD state machines, onboarding and registrar, each its file, each Lambda by its function", () => {
    const machines = resourcesOfType(template, "AWS::StepFunctions::StateMachine");
    // The bulk onboarding's machine is checked in bulk-template.test.ts.
    expect(machines.map(([id]) => id).sort()).toEqual([
      "BulkOnboardingStateMachine",
      "OffboardingStateMachine",
      "OnboardingStateMachine",
      "ReconcileStateMachine",
      "RegistrarStateMachine",
      "RotationStateMachine",
    ]);
    for (const [id, file] of [
      ["OnboardingStateMachine", definition],
      ["RegistrarStateMachine", registrarDefinition],
      ["RotationStateMachine", loadDefinition("rotation")],
      ["ReconcileStateMachine", reconcileDefinition],
      // --- Offboarding ---
      ["OffboardingStateMachine", loadDefinition("offboarding")],
    ] as const) {
      const machine = machineOf(id);
      expect(machine.Properties.StateMachineType ?? "STANDARD", id).toBe("STANDARD");
      const [body, refs] = (
        machine.Properties.DefinitionString as { "Fn::Sub": [string, Record<string, unknown>] }
      )["Fn::Sub"];
      // Put the function references back the way the file writes them, then compare whole documents.
      const restored = JSON.parse(body.replace(/"\$\{(\w+)\}"/g, (_, key: string) => text(refs[key])));
      const expected = JSON.parse(
        text(file).replace(/\{"Fn::GetAtt":\["(\w+)","Arn"\]\}/g, (_, fn: string) =>
          text({ "Fn::GetAtt": [logicalId(fn), "Arn"] }),
        ),
      );
      expect(restored, id).toEqual(expected);
    }
  });

  it("keeps the states' data out of both state machines' logs", () => {
    for (const id of ["OnboardingStateMachine", "RegistrarStateMachine"]) {
      expect(machineOf(id).Properties.LoggingConfiguration, id).toMatchObject({
        IncludeExecutionData: false,
      });
    }
  });

  it("lets the onboarding invoke exactly its steps' functions, the registrar's hand-over included", () => {
    const invoked = machineStatements("OnboardingStateMachine")
      .filter((s) => actionsOf(s).includes("lambda:InvokeFunction"))
      .flatMap((s) => [s.Resource].flat())
      .filter((r): r is { "Fn::GetAtt": [string, string] } => text(r).startsWith('{"Fn::GetAtt"'))
      .map((r) => r["Fn::GetAtt"][0]);
    // From each Task's Resource, and from Parameters.FunctionName of lambda:invoke.waitForTaskToken.
    const named = Object.values(definition.States).flatMap((state) => {
      const parameters = state.Parameters as { FunctionName?: unknown } | undefined;
      return [state.Resource, parameters?.FunctionName]
        .map((r) => (r as { "Fn::GetAtt"?: [string] } | undefined)?.["Fn::GetAtt"]?.[0])
        .filter((fn): fn is string => fn !== undefined)
        .map(logicalId);
    });
    expect(named).toContain("SubmitToRegistrarLambdaFunction");
    expect(new Set(invoked)).toEqual(new Set(named));
    expect(invoked).not.toContain("RegistrarTickLambdaFunction");
  });

  it("lets the registrar invoke only its tick and start only itself, its role free of any cycle", () => {
    const machine = machineOf("RegistrarStateMachine");
    const roleId = roleOf(machine);
    const statements = machineStatements("RegistrarStateMachine");
    const service = statements.filter((s) => !isDeliveryStatement(s));
    expect(service).toEqual([
      {
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: { "Fn::GetAtt": ["RegistrarTickLambdaFunction", "Arn"] },
      },
      { Effect: "Allow", Action: "states:StartExecution", Resource: expect.anything() },
    ]);
    // Its own ARN, named so (a Ref from its role to itself would be a circular dependency).
    expect(resolveIntrinsics(service[1]?.Resource, TEST_STACK)).toBe(
      `arn:aws:states:us-east-1:111111111111:stateMachine:${String(machine.Properties.StateMachineName)}`,
    );
    expect(text(template.Resources[roleId])).not.toContain('RegistrarStateMachine"');
    // The relay is the registrar's only start of an execution, of the machine running it.
    const starts = Object.values(registrarDefinition.States).filter((s) =>
      String(s.Resource).includes(":states:startExecution"),
    );
    expect(starts).toHaveLength(1);
    expect((starts[0]?.Parameters as Record<string, unknown> | undefined)?.["StateMachineArn.$"]).toBe(
      "$$.StateMachine.Id",
    );
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
      expect(resolveIntrinsics(assume[0]?.Resource, TEST_STACK)).toEqual([
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

  it("lets the onboarding state machine only put and delete items of the lock table, the registrar none", () => {
    const dynamo = (id: string) =>
      machineStatements(id).filter((s) => actionsOf(s).some((a) => a.startsWith("dynamodb:")));
    expect(dynamo("OnboardingStateMachine")).toEqual([
      {
        Effect: "Allow",
        Action: ["dynamodb:PutItem", "dynamodb:DeleteItem"],
        Resource: [{ "Fn::GetAtt": ["AccountLocksTable", "Arn"] }],
      },
    ]);
    expect(dynamo("RegistrarStateMachine")).toEqual([]);
  });

  it("lets only the steps that record runs touch DynamoDB: GetItem and PutItem of the registry table (RetireOldKey: GetItem), and the registrar its own table", () => {
    const registryReadWrite = {
      Effect: "Allow",
      Action: ["dynamodb:GetItem", "dynamodb:PutItem"],
      Resource: { "Fn::GetAtt": ["AccountRegistryTable", "Arn"] },
    };
    const registryRead = {
      Effect: "Allow",
      Action: ["dynamodb:GetItem"],
      Resource: { "Fn::GetAtt": ["AccountRegistryTable", "Arn"] },
    };
    const registrarTable = (...actions: string[]) => ({
      Effect: "Allow",
      Action: actions.map((a) => `dynamodb:${a}`),
      Resource: { "Fn::GetAtt": ["RegistrarTable", "Arn"] },
    });
    const expected: Record<string, object[]> = {
      ...Object.fromEntries(
        [
          ...IAM_STEPS,
          "RecordStartLambdaFunction",
          "RecordSuccessLambdaFunction",
          "RecordFailureLambdaFunction",
          "RollbackLambdaFunction",
        ].map((id) => [id, [registryReadWrite]]),
      ),
      // A plan, and the check before a run's first write, read what the product owns; RetireOldKey
      // reads which key the run's registration replaced. Neither writes there.
      PlanOnboardingLambdaFunction: [registryRead],
      RetireOldKeyLambdaFunction: [registryRead],
      // A bulk run's plan skips the accounts the registry has active.
      BulkPlanLambdaFunction: [registryRead],
      // The hand-over queues a request (never twice), reading what the run recorded.
      SubmitToRegistrarLambdaFunction: [registrarTable("GetItem", "PutItem"), registryRead],
      // The registrar records the registration before it is sent, and its cloud account once known.
      RegistrarTickLambdaFunction: [
        registryReadWrite,
        registrarTable("GetItem", "PutItem", "DeleteItem", "Scan"),
      ],
      // --- Fleet view: the list scans the registry, one account is one GetItem ---
      HttpListAccountsLambdaFunction: [
        { Effect: "Allow", Action: ["dynamodb:Scan"], Resource: registryRead.Resource },
      ],
      HttpGetAccountLambdaFunction: [registryRead],
      // Credential rotation: its steps record the rotation; the undo only reads; the schedule's
      // starter scans for the active accounts.
      ...Object.fromEntries(
        ["RotateBegin", "RotateCreateKey", "RotatePromote", "RotateFinish"].map((fn) => [
          `${fn}LambdaFunction`,
          [registryReadWrite],
        ]),
      ),
      RotateUndoLambdaFunction: [registryRead],
      StartScheduledRotationsLambdaFunction: [
        {
          Effect: "Allow",
          Action: ["dynamodb:Scan"],
          Resource: { "Fn::GetAtt": ["AccountRegistryTable", "Arn"] },
        },
      ],
      // --- Reconcile and event storms ---
      StartFromEventLambdaFunction: [registryRead],
      ListReconcilePageLambdaFunction: [{ ...registryRead, Action: ["dynamodb:GetItem", "dynamodb:Scan"] }],
      ReconcileAccountLambdaFunction: [registryReadWrite],
      // --- Offboarding ---
      // Its first step only reads; the others write the item as the onboarding's do.
      OffboardStartLambdaFunction: [registryRead],
      ...Object.fromEntries(
        ["Begin", "Iam", "Secret", "Finish", "Failure"].map((s) => [
          `Offboard${s}LambdaFunction`,
          [registryReadWrite],
        ]),
      ),
    };
    const expectedIds = Object.keys(expected);
    expect(expectedIds.filter((id) => !functions.some(([name]) => name === id))).toEqual([]);
    for (const [id, fn] of functions) {
      const statements = roleStatements(template, functionRoleId(template, id)).filter((s) =>
        actionsOf(s).some((a) => a.startsWith("dynamodb:")),
      );
      expect(statements, id).toEqual(expected[id] ?? []);
      if (!expected[id]) continue;
      const environment = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(environment.REGISTRY_TABLE_NAME, id).toEqual({ Ref: "AccountRegistryTable" });
      if (text(expected[id]).includes("RegistrarTable"))
        expect(environment.REGISTRAR_TABLE_NAME, id).toEqual({ Ref: "RegistrarTable" });
    }
  });

  it("lets only the registrar's functions start the registrar and answer task tokens", () => {
    const arn = (name: string) =>
      `arn:aws:states:us-east-1:111111111111:stateMachine:${String(machineOf(name).Properties.StateMachineName)}`;
    const stack = {
      ...TEST_STACK,
      refs: {
        OnboardingStateMachine: arn("OnboardingStateMachine"),
        // --- Offboarding ---
        OffboardingStateMachine: arn("OffboardingStateMachine"),
      },
      attributes: {},
    };
    const registrarGrants = (id: string) =>
      roleStatements(template, functionRoleId(template, id))
        .filter((s) =>
          actionsOf(s).some((a) => a === "states:StartExecution" || a.startsWith("states:SendTask")),
        )
        .map((s) => ({ actions: actionsOf(s), resource: resolveIntrinsics(s.Resource, stack) }));
    for (const [id] of functions) {
      if (id === "SubmitToRegistrarLambdaFunction") {
        expect(registrarGrants(id), id).toEqual([
          { actions: ["states:StartExecution"], resource: arn("RegistrarStateMachine") },
          // A withdrawal with nothing to withdraw is answered at once. Task tokens take no
          // resource-level permission: "*" is the only form that allows answering one.
          { actions: ["states:SendTaskSuccess"], resource: "*" },
        ]);
      } else if (id === "RegistrarTickLambdaFunction") {
        expect(registrarGrants(id), id).toEqual([
          {
            actions: ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            resource: "*",
          },
        ]);
      } else if (id === "StartScheduledRotationsLambdaFunction" || id === "HttpStartRotationLambdaFunction") {
        // Credential rotation's starters start rotations only.
        expect(registrarGrants(id), id).toEqual([
          { actions: ["states:StartExecution"], resource: arn("RotationStateMachine") },
        ]);
      } else if (id === "HttpBulkLambdaFunction") {
        // The bulk route starts bulk runs only (bulk-template.test.ts).
        expect(registrarGrants(id), id).toEqual([
          { actions: ["states:StartExecution"], resource: arn("BulkOnboardingStateMachine") },
        ]);
      } else {
        // The starters start onboardings; none answers a token or starts the registrar.
        for (const grant of registrarGrants(id)) {
          expect(grant.actions, id).toEqual(["states:StartExecution", "states:ListExecutions"]);
          // --- Offboarding --- the offboarding's starters start the offboarding.
          const machine = /Offboard/.test(id) ? "OffboardingStateMachine" : "OnboardingStateMachine";
          expect(grant.resource, id).toBe(arn(machine));
        }
      }
    }
    // The hand-over starts the machine its settings name.
    const environment = template.Resources.SubmitToRegistrarLambdaFunction?.Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(resolveIntrinsics(environment.Variables.REGISTRAR_STATE_MACHINE_ARN, stack)).toBe(
      arn("RegistrarStateMachine"),
    );
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
