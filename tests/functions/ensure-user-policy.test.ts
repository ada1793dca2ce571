import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { GetPolicyCommand, IAMClient } from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { ensureUserPolicy, handler } from "../../functions/ensure-user-policy.ts";
import userPolicy from "../../policies/RedislabsIAMUserRestrictedPolicy.json" with { type: "json" };
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
  step: "EnsureUserPolicy",
  policyName: "RedislabsIAMUserRestrictedPolicy",
  document: userPolicy,
  run: ensureUserPolicy,
});

describe("ensure-user-policy handler", () => {
  it("refuses an input without a target before calling AWS", async () => {
    // Act
    const error = await rejectionOf(handler({ execution: "e-1" }, lambdaContext(TARGET)));

    // Assess
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toMatch(/^EnsureUserPolicy: target: /);
    expect(iamMock).not.toHaveReceivedAnyCommand();
  });

  it("reconciles the user policy of the target account", async () => {
    // Prepare
    iamMock.on(GetPolicyCommand).rejects(awsError.serviceFailure());

    // Act
    const error = await rejectionOf(handler(stepInput(), lambdaContext(TARGET)));

    // Assess
    expect(error.name).toBe("ServiceFailure");
    expect(iamMock).toHaveReceivedCommandWith(GetPolicyCommand, {
      PolicyArn: arnIn(TARGET, "policy/RedislabsIAMUserRestrictedPolicy"),
    });
  });
});
