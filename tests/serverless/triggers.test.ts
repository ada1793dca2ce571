import { describe, expect, it } from "vitest";
import {
  functionGrants,
  packagedTemplate,
  type Resource,
  resourcesOfType,
  type Template,
} from "../support/template.ts";

/*
 * The three ways in besides the console, as `serverless package --stage test` writes them: the
 * vending rules and their dead-letter queue, the IAM-only HTTP API, and the starters' roles.
 */

const template: Template = packagedTemplate();
const DLQ = { "Fn::GetAtt": ["VendingEventsDeadLetterQueue", "Arn"] };
const MACHINE = { Ref: "OnboardingStateMachine" };
const EXECUTIONS =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
  "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:redis-cloud-byoc-test-onboarding:*";
const STARTER = "StartFromEventLambdaFunction";
const POST = "HttpStartOnboardingLambdaFunction";
const GET = "HttpGetOnboardingLambdaFunction";

const rules = resourcesOfType(template, "AWS::Events::Rule")
  .map(([, rule]) => rule)
  // --- Offboarding --- its rules are tested in offboarding.test.ts.
  .filter((rule) => !String(rule.Properties.Name).includes("-offboard-"));
const targetsOf = (rule: Resource) => rule.Properties.Targets as Record<string, unknown>[];

/** A role's statements other than its own log writing and tracing. */
const grants = (fn: string) => functionGrants(template, fn);

/** A function's environment variables. */
const environmentOf = (fn: string): Record<string, unknown> => {
  const environment = template.Resources[fn]?.Properties.Environment as
    | { Variables?: Record<string, unknown> }
    | undefined;
  return environment?.Variables ?? {};
};

describe("the vending rules", () => {
  it("invoke only the starter, retry for a day, then dead-letter to the queue", () => {
    expect(rules).toHaveLength(3);
    for (const rule of rules) {
      expect(targetsOf(rule)).toEqual([
        expect.objectContaining({
          Arn: { "Fn::GetAtt": [STARTER, "Arn"] },
          RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
          DeadLetterConfig: { Arn: DLQ },
        }),
      ]);
    }
  });

  it("match only SUCCEEDED lifecycle events", () => {
    const states = rules.map(
      (rule) => JSON.stringify(rule.Properties.EventPattern).match(/"state":(\[[^\]]*\])/)?.[1],
    );
    expect(states).toEqual(['["SUCCEEDED"]', '["SUCCEEDED"]', '["SUCCEEDED"]']);
  });

  it("send the starter's own failures, after two retries, to the same queue", () => {
    const [[, config] = []] = resourcesOfType(template, "AWS::Lambda::EventInvokeConfig").filter(
      ([, c]) => JSON.stringify(c.Properties.FunctionName) === JSON.stringify({ Ref: STARTER }),
    );
    expect(config?.Properties).toMatchObject({
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: DLQ } },
    });
  });

  it("are the only EventBridge senders the queue accepts, and only over TLS", () => {
    // Arrange
    const [[, policy] = []] = resourcesOfType(template, "AWS::SQS::QueuePolicy");
    const document = policy?.Properties.PolicyDocument as
      | { Statement?: Record<string, unknown>[] }
      | undefined;
    const statements = document?.Statement ?? [];
    const names = rules.map((rule) => rule.Properties.Name as string).sort();

    // Act
    const allow = statements.find((s) => s.Effect === "Allow");
    const sources = JSON.stringify(allow?.Condition);

    // Assess
    expect(allow).toMatchObject({
      Principal: { Service: "events.amazonaws.com" },
      Action: "sqs:SendMessage",
    });
    expect(names).toEqual([
      "redis-cloud-byoc-test-vending-ct-create",
      "redis-cloud-byoc-test-vending-ct-update",
      "redis-cloud-byoc-test-vending-org-create",
    ]);
    for (const name of names) expect(sources).toContain(`:rule/${name}`);
    expect(statements.find((s) => s.Effect === "Deny")).toMatchObject({
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
  });
});

describe("the HTTP API", () => {
  const routes = resourcesOfType(template, "AWS::ApiGatewayV2::Route").map(([, route]) => route.Properties);

  it("has exactly the product's routes", () => {
    expect(routes.map((route) => route.RouteKey).sort()).toEqual(
      [
        "GET /onboardings/{id}",
        "POST /onboardings",
        "POST /plans",
        // Bulk onboarding.
        "GET /onboardings/bulk/{id}",
        "POST /onboardings/bulk",
        // Fleet view.
        "GET /accounts",
        "GET /accounts/{accountId}",
        // Credential rotation.
        "POST /accounts/{accountId}/rotations",
        // Offboarding.
        "DELETE /accounts/{accountId}",
        "GET /offboardings/{id}",
      ].sort(),
    );
  });

  it("authorizes every route with IAM (SigV4): none is open", () => {
    for (const route of routes) expect(route.AuthorizationType).toBe("AWS_IAM");
  });

  it("uses payload format 2.0", () => {
    for (const [, integration] of resourcesOfType(template, "AWS::ApiGatewayV2::Integration")) {
      expect(integration.Properties.PayloadFormatVersion).toBe("2.0");
    }
  });
});

describe("the starters' roles", () => {
  it("let the starter start and list executions of the state machine, describe its executions, dead-letter and read the registry, nothing else", () => {
    expect(grants(STARTER)).toEqual([
      { Effect: "Allow", Action: ["states:StartExecution", "states:ListExecutions"], Resource: MACHINE },
      { Effect: "Allow", Action: ["states:DescribeExecution"], Resource: { "Fn::Sub": EXECUTIONS } },
      { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: DLQ },
      // --- Event storms: whether the account is active and reconciled clean ---
      {
        Effect: "Allow",
        Action: ["dynamodb:GetItem"],
        Resource: { "Fn::GetAtt": ["AccountRegistryTable", "Arn"] },
      },
    ]);
  });

  it("let POST /onboardings start and list executions of the state machine and describe its executions, nothing else", () => {
    expect(grants(POST)).toEqual([
      { Effect: "Allow", Action: ["states:StartExecution", "states:ListExecutions"], Resource: MACHINE },
      { Effect: "Allow", Action: ["states:DescribeExecution"], Resource: { "Fn::Sub": EXECUTIONS } },
    ]);
  });

  it("let GET /onboardings/{id} describe and read the history of this state machine's executions only", () => {
    expect(grants(GET)).toEqual([
      {
        Effect: "Allow",
        Action: ["states:DescribeExecution", "states:GetExecutionHistory"],
        Resource: { "Fn::Sub": EXECUTIONS },
      },
    ]);
  });

  it("hand each of the three the state machine's ARN", () => {
    for (const fn of [STARTER, POST, GET]) {
      const variables = environmentOf(fn);
      expect(variables.STATE_MACHINE_ARN).toEqual(MACHINE);
    }
  });

  it("give the starter the vending settings with their defaults", () => {
    const variables = environmentOf(STARTER);
    expect(variables).toMatchObject({
      VENDING_SOURCES: "controltower,organizations",
      CONTROL_TOWER_ROLE_NAME: "AWSControlTowerExecution",
      ORGANIZATIONS_ROLE_NAME: "OrganizationAccountAccessRole",
      ALLOWED_OU_IDS: "",
    });
  });
});
