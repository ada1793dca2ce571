import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  type Role,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { ensureConsoleRole, handler } from "../../functions/ensure-console-role.ts";
import { loadConfig } from "../../functions/lib/config.ts";
import type { ChangeRecorder } from "../../functions/lib/registry.ts";
import consoleTrust from "../../policies/redislabs-role.trust.json" with { type: "json" };
import {
  adoptingInput,
  arnIn,
  awsError,
  EXECUTION,
  encoded,
  FOREIGN_TAGS,
  HOME,
  lambdaContext,
  NO_REGISTRY,
  ourTags,
  ownedRegistry,
  rejectionOf,
  runningItem,
  stepInput,
  TARGET,
  writeCommands,
  writesAtEachAdoption,
} from "../support/aws.ts";

const ROLE = "redislabs-role";
const ROLE_ARN = arnIn(TARGET, `role/${ROLE}`);
const USER_POLICY_ARN = arnIn(TARGET, "policy/RedislabsIAMUserRestrictedPolicy");
const INSTANCE_POLICY_ARN = arnIn(TARGET, "policy/RedisLabsInstanceRolePolicy");

const iamMock = mockClient(IAMClient);
const dynamoMock = mockClient(DynamoDBClient);

const role = (trust: unknown): Role => ({
  Path: "/",
  RoleName: ROLE,
  RoleId: "AROAEXAMPLECONSOLE",
  Arn: ROLE_ARN,
  CreateDate: new Date("2024-01-01T00:00:00Z"),
  AssumeRolePolicyDocument: encoded(trust),
  Tags: FOREIGN_TAGS,
});

function accountHas(state: { role?: Role; attachedArn?: string }) {
  if (state.role) iamMock.on(GetRoleCommand, { RoleName: ROLE }).resolves({ Role: state.role });
  else iamMock.on(GetRoleCommand).rejects(awsError.noSuchEntity());
  iamMock.on(CreateRoleCommand).resolves({ Role: { ...role(consoleTrust), Tags: ourTags(EXECUTION) } });
  iamMock.on(UpdateAssumeRolePolicyCommand).resolves({});
  iamMock.on(ListAttachedRolePoliciesCommand, { RoleName: ROLE }).resolves({
    AttachedPolicies: state.attachedArn ? [{ PolicyName: "attached", PolicyArn: state.attachedArn }] : [],
  });
  iamMock.on(ListRolePoliciesCommand, { RoleName: ROLE }).resolves({ PolicyNames: [] });
  iamMock.on(AttachRolePolicyCommand).resolves({});
}

const act = (config = loadConfig({}), registry: ChangeRecorder = NO_REGISTRY, input = stepInput()) =>
  ensureConsoleRole(input, { iam: new IAMClient({}), home: HOME, config, registry });

/** The console role's trust once someone dropped the MFA condition. */
const WITHOUT_MFA = {
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { AWS: "arn:aws:iam::168085023892:root" }, Action: "sts:AssumeRole" },
  ],
};

beforeEach(() => {
  iamMock.reset();
  dynamoMock.reset();
  // The account registry the handlers read what the product owns from.
  dynamoMock.on(GetItemCommand).resolves({ Item: runningItem() });
});

describe("ensureConsoleRole", () => {
  it("creates the role trusted by Redis's account with MFA and without an external id", async () => {
    // Prepare
    accountHas({});

    // Act
    const result = await act();

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(CreateRoleCommand, {
      RoleName: ROLE,
      Tags: ourTags(EXECUTION),
    });
    const sent = iamMock.commandCalls(CreateRoleCommand)[0]?.args[0].input.AssumeRolePolicyDocument ?? "";
    expect(JSON.parse(sent)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: "arn:aws:iam::168085023892:root" },
          Action: "sts:AssumeRole",
          Condition: { Bool: { "aws:MultiFactorAuthPresent": "true" } },
        },
      ],
    });
    expect(sent).not.toMatch(/ExternalId/);
    expect(result).toMatchObject({ roleName: ROLE, roleArn: ROLE_ARN });
    expect(result.changes[0]).toEqual({ type: "Role", name: ROLE });
  });

  it("attaches RedislabsIAMUserRestrictedPolicy with the default settings", async () => {
    // Prepare
    accountHas({});

    // Act
    const result = await act();

    // Assess
    expect(iamMock).toHaveReceivedCommandTimes(AttachRolePolicyCommand, 1);
    expect(iamMock).toHaveReceivedCommandWith(AttachRolePolicyCommand, {
      RoleName: ROLE,
      PolicyArn: USER_POLICY_ARN,
    });
    expect(result.policyArn).toBe(USER_POLICY_ARN);
    expect(result.changes).toContainEqual({
      type: "RolePolicyAttachment",
      role: ROLE,
      policyArn: USER_POLICY_ARN,
    });
  });

  it("attaches RedisLabsInstanceRolePolicy when the settings say so", async () => {
    // Prepare
    accountHas({});
    const config = loadConfig({ CONSOLE_ROLE_POLICY: "RedisLabsInstanceRolePolicy" });

    // Act
    const result = await act(config);

    // Assess
    expect(iamMock).toHaveReceivedCommandTimes(AttachRolePolicyCommand, 1);
    expect(iamMock).toHaveReceivedCommandWith(AttachRolePolicyCommand, {
      RoleName: ROLE,
      PolicyArn: INSTANCE_POLICY_ARN,
    });
    expect(result.policyArn).toBe(INSTANCE_POLICY_ARN);
  });

  it("sends no write when the role trusts Redis (as a bare account id) and has its policy", async () => {
    // Prepare: IAM may show the principal as the account id; it is the same trust.
    const sameTrust = {
      Version: "2012-10-17",
      Statement: [
        {
          Condition: { Bool: { "aws:MultiFactorAuthPresent": ["true"] } },
          Action: ["sts:AssumeRole"],
          Principal: { AWS: "168085023892" },
          Effect: "Allow",
        },
      ],
    };
    accountHas({ role: role(sameTrust), attachedArn: USER_POLICY_ARN });

    // Act
    const result = await act();

    // Assess
    expect(writeCommands(iamMock)).toEqual([]);
    expect(result.changes).toEqual([]);
    expect(result.found).toEqual([`role ${ROLE}`, `attachment ${USER_POLICY_ARN} to role ${ROLE}`]);
  });

  it("restores the trust policy of its own role when MFA is no longer required", async () => {
    // Prepare
    const withoutMfa = WITHOUT_MFA;
    accountHas({ role: role(withoutMfa), attachedArn: USER_POLICY_ARN });

    // Act
    const result = await act(loadConfig({}), ownedRegistry([{ type: "Role", name: ROLE }]).registry);

    // Assess
    expect(writeCommands(iamMock)).toEqual(["UpdateAssumeRolePolicyCommand"]);
    const sent = iamMock.commandCalls(UpdateAssumeRolePolicyCommand)[0]?.args[0].input.PolicyDocument ?? "";
    expect(JSON.parse(sent)).toEqual(consoleTrust);
    expect(result.changes).toEqual([
      { type: "TrustPolicy", role: ROLE, previousDocument: JSON.stringify(withoutMfa) },
    ]);
  });
});

describe("ensureConsoleRole on a role it did not make", () => {
  it("fails with ForeignResource naming the role and its trust, writing nothing", async () => {
    // Prepare
    accountHas({ role: role(WITHOUT_MFA), attachedArn: USER_POLICY_ARN });
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(loadConfig({}), registry));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain(
      `EnsureConsoleRole: found resources this product did not make that differ from what Redis requires: role ${ROLE} (its trust policy is not the one Redis requires: ${JSON.stringify(WITHOUT_MFA)})`,
    );
    expect(writeCommands(iamMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("adopts it when the input says so: its trust recorded first, then replaced and the previous document kept", async () => {
    // Prepare
    accountHas({ role: role(WITHOUT_MFA), attachedArn: USER_POLICY_ARN });
    const { registry, recorded } = ownedRegistry();
    const writesBefore = writesAtEachAdoption(registry, iamMock);

    // Act
    const result = await act(loadConfig({}), registry, adoptingInput());

    // Assess
    expect(writesBefore).toEqual([[]]);
    expect(writeCommands(iamMock)).toEqual(["UpdateAssumeRolePolicyCommand"]);
    expect(recorded).toEqual([
      {
        change: { type: "Role", name: ROLE },
        origin: "adopted",
        prior: JSON.stringify({ trust: WITHOUT_MFA, attached: [USER_POLICY_ARN] }),
      },
      {
        change: { type: "TrustPolicy", role: ROLE, previousDocument: JSON.stringify(WITHOUT_MFA) },
        origin: "created",
      },
    ]);
    expect(result.adopted).toEqual([`role ${ROLE}`]);
  });
});

describe("ensure-console-role handler", () => {
  it("attaches the policy of the deployment's settings", async () => {
    // Prepare
    accountHas({ role: role(consoleTrust), attachedArn: USER_POLICY_ARN });

    // Act
    const result = await handler(stepInput(), lambdaContext(TARGET));

    // Assess
    expect(result).toMatchObject({ roleArn: ROLE_ARN, policyArn: USER_POLICY_ARN, changes: [] });
  });
});
