import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { GetPolicyCommand, IAMClient } from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { ensureInstancePolicy, handler } from "../../functions/ensure-instance-policy.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import instancePolicy from "../../policies/RedisLabsInstanceRolePolicy.json" with { type: "json" };
import {
  arnIn,
  awsError,
  lambdaContext,
  rejectionOf,
  runningItem,
  stepInput,
  TARGET,
} from "../support/aws.ts";
import { describePolicyStep } from "../support/policy-step-suite.ts";

const iamMock = mockClient(IAMClient);
const dynamoMock = mockClient(DynamoDBClient);

beforeEach(() => {
  iamMock.reset();
  dynamoMock.reset();
  // The account registry the handlers read what the product owns from.
  dynamoMock.on(GetItemCommand).resolves({ Item: runningItem() });
});

describePolicyStep({
  iamMock,
  step: "EnsureInstancePolicy",
  policyName: "RedisLabsInstanceRolePolicy",
  document: instancePolicy,
  run: ensureInstancePolicy,
});

describe("ensure-instance-policy handler", () => {
  it("acts in its own account and turns an SDK failure into a named WorkflowError", async () => {
    // Prepare
    iamMock.on(GetPolicyCommand).rejects(awsError.accessDenied());

    // Act
    const error = await rejectionOf(handler(stepInput(), lambdaContext(TARGET)));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("AccessDenied");
    expect(error.message).toContain(
      `EnsureInstancePolicy: GetPolicy ${arnIn(TARGET, "policy/RedisLabsInstanceRolePolicy")}`,
    );
  });
});
