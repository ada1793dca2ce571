import { describe, expect, it } from "vitest";
import {
  actionsOf,
  functionGrants,
  packagedTemplate,
  resourcesOfType,
  type Template,
} from "../support/template.ts";

/* The offboarding as `serverless package --stage test` writes it: machine, route, rules, roles. */

const template: Template = packagedTemplate();
const grants = (fn: string) => functionGrants(template, fn);

describe("the offboarding, as packaged", () => {
  it("is a STANDARD state machine logging errors only, without the states' data, to its own log group", () => {
    const machine = template.Resources.OffboardingStateMachine;
    expect(machine?.Properties.StateMachineType ?? "STANDARD").toBe("STANDARD");
    expect(machine?.Properties.LoggingConfiguration).toMatchObject({
      Level: "ERROR",
      IncludeExecutionData: false,
      Destinations: [
        {
          CloudWatchLogsLogGroup: {
            LogGroupArn: { "Fn::GetAtt": ["OffboardingStateMachineLogGroup", "Arn"] },
          },
        },
      ],
    });
  });

  it("answers DELETE /accounts/{accountId} and GET /offboardings/{id} only to IAM-signed callers", () => {
    const routes = resourcesOfType(template, "AWS::ApiGatewayV2::Route").map(([, r]) => r.Properties);
    for (const key of ["DELETE /accounts/{accountId}", "GET /offboardings/{id}"]) {
      expect(routes.find((r) => r.RouteKey === key)?.AuthorizationType, key).toBe("AWS_IAM");
    }
  });

  it("sends the Organizations rules' undeliverable events to the offboarding's dead-letter queue", () => {
    const rules = resourcesOfType(template, "AWS::Events::Rule").filter(([, r]) =>
      String(r.Properties.Name).includes("-offboard-"),
    );
    expect(rules).toHaveLength(2);
    for (const [, rule] of rules) {
      const [target] = rule.Properties.Targets as { DeadLetterConfig?: { Arn: unknown } }[];
      expect(target?.DeadLetterConfig?.Arn).toEqual({
        "Fn::GetAtt": ["OffboardingEventsDeadLetterQueue", "Arn"],
      });
    }
  });

  it("lets the secret step schedule deletions only: never ForceDeleteWithoutRecovery", () => {
    const deleting = grants("OffboardSecretLambdaFunction").filter((s) =>
      actionsOf(s).includes("secretsmanager:DeleteSecret"),
    );
    expect(deleting).toHaveLength(1);
    expect(deleting[0]?.Condition).toEqual({ Null: { "secretsmanager:ForceDeleteWithoutRecovery": "true" } });
  });

  it("gives the IAM teardown no wildcard IAM action, and only the product's resources", () => {
    const iam = grants("OffboardIamLambdaFunction").filter((s) =>
      actionsOf(s).some((a) => a.startsWith("iam:")),
    );
    expect(iam.length).toBeGreaterThan(0);
    for (const statement of iam) {
      expect(actionsOf(statement).some((a) => a.includes("*"))).toBe(false);
      expect(JSON.stringify(statement.Resource)).toMatch(/redislabs|RedisLabs|Redislabs|role\/\*/);
    }
  });

  it("passes SECRET_RECOVERY_DAYS to the secret step, 7 by default", () => {
    const environment = template.Resources.OffboardSecretLambdaFunction?.Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(environment.Variables.SECRET_RECOVERY_DAYS).toBe("7");
  });
});
