import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  IAMClient,
  type InstanceProfile,
  ListAttachedRolePoliciesCommand,
  type Role,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { ensureNodeRole, handler } from "../../functions/ensure-node-role.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import nodeTrust from "../../policies/redislabs-cluster-node-role.trust.json" with { type: "json" };
import {
  arnIn,
  awsError,
  EXECUTION,
  encoded,
  FOREIGN_TAGS,
  HOME,
  lambdaContext,
  NO_REGISTRY,
  ourTags,
  rejectionOf,
  stepInput,
  TARGET,
  type Tag,
  writeCommands,
} from "../support/aws.ts";

const ROLE = "redislabs-cluster-node-role";
const ROLE_ARN = arnIn(TARGET, `role/${ROLE}`);
const PROFILE_ARN = arnIn(TARGET, `instance-profile/${ROLE}`);
const INSTANCE_POLICY_ARN = arnIn(TARGET, "policy/RedisLabsInstanceRolePolicy");

const iamMock = mockClient(IAMClient);

const act = () => ensureNodeRole(stepInput(), { iam: new IAMClient({}), home: HOME, registry: NO_REGISTRY });

function role(trust: unknown = nodeTrust, tags: Tag[] = FOREIGN_TAGS): Role {
  return {
    Path: "/",
    RoleName: ROLE,
    RoleId: "AROAEXAMPLENODEROLE",
    Arn: ROLE_ARN,
    CreateDate: new Date("2024-01-01T00:00:00Z"),
    AssumeRolePolicyDocument: encoded(trust),
    Tags: tags,
  };
}

function profile(roles: string[], tags: Tag[] = FOREIGN_TAGS): InstanceProfile {
  return {
    Path: "/",
    InstanceProfileName: ROLE,
    InstanceProfileId: "AIPAEXAMPLEPROFILE",
    Arn: PROFILE_ARN,
    CreateDate: new Date("2024-01-01T00:00:00Z"),
    Roles: roles.map((name) => ({ ...role(), RoleName: name, Arn: arnIn(TARGET, `role/${name}`) })),
    Tags: tags,
  };
}

/** The role, its attachment and its instance profile as found in the account. */
function accountHas(state: { role?: Role; attached?: boolean; profile?: InstanceProfile }) {
  if (state.role) iamMock.on(GetRoleCommand, { RoleName: ROLE }).resolves({ Role: state.role });
  else iamMock.on(GetRoleCommand).rejects(awsError.noSuchEntity());
  iamMock.on(CreateRoleCommand).resolves({ Role: role(nodeTrust, ourTags(EXECUTION)) });
  iamMock.on(ListAttachedRolePoliciesCommand, { RoleName: ROLE }).resolves({
    AttachedPolicies: state.attached
      ? [{ PolicyName: "RedisLabsInstanceRolePolicy", PolicyArn: INSTANCE_POLICY_ARN }]
      : [],
  });
  iamMock.on(AttachRolePolicyCommand).resolves({});
  iamMock.on(UpdateAssumeRolePolicyCommand).resolves({});
  if (state.profile) iamMock.on(GetInstanceProfileCommand).resolves({ InstanceProfile: state.profile });
  else iamMock.on(GetInstanceProfileCommand).rejects(awsError.noSuchEntity());
  iamMock.on(CreateInstanceProfileCommand).resolves({ InstanceProfile: profile([], ourTags(EXECUTION)) });
  iamMock.on(AddRoleToInstanceProfileCommand).resolves({});
}

beforeEach(() => {
  iamMock.reset();
});

describe("ensureNodeRole", () => {
  it("creates the EC2 role, attaches the instance policy and makes the instance profile in a fresh account", async () => {
    // Prepare
    accountHas({});

    // Act
    const result = await act();

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(CreateRoleCommand, {
      RoleName: ROLE,
      Tags: ourTags(EXECUTION),
    });
    const trust = iamMock.commandCalls(CreateRoleCommand)[0]?.args[0].input.AssumeRolePolicyDocument;
    expect(JSON.parse(trust ?? "null")).toEqual({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
    expect(iamMock).toHaveReceivedCommandWith(AttachRolePolicyCommand, {
      RoleName: ROLE,
      PolicyArn: INSTANCE_POLICY_ARN,
    });
    expect(iamMock).toHaveReceivedCommandWith(CreateInstanceProfileCommand, { InstanceProfileName: ROLE });
    expect(iamMock).toHaveReceivedCommandWith(AddRoleToInstanceProfileCommand, {
      InstanceProfileName: ROLE,
      RoleName: ROLE,
    });
    expect(writeCommands(iamMock)).toEqual([
      "CreateRoleCommand",
      "AttachRolePolicyCommand",
      "CreateInstanceProfileCommand",
      "AddRoleToInstanceProfileCommand",
    ]);
    expect(result).toEqual({
      roleArn: ROLE_ARN,
      instanceProfileArn: PROFILE_ARN,
      changes: [
        { type: "Role", name: ROLE },
        { type: "RolePolicyAttachment", role: ROLE, policyArn: INSTANCE_POLICY_ARN },
        { type: "InstanceProfile", name: ROLE },
        { type: "InstanceProfileRole", profile: ROLE, role: ROLE },
      ],
      found: [],
    });
  });

  it("sends no write at all when role, attachment and instance profile are all in place", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile([ROLE]) });

    // Act
    const result = await act();

    // Assess
    expect(writeCommands(iamMock)).toEqual([]);
    expect(result.changes).toEqual([]);
    expect(result.found).toEqual([
      `role ${ROLE}`,
      `attachment ${INSTANCE_POLICY_ARN} to role ${ROLE}`,
      `instance profile ${ROLE}`,
      `role ${ROLE} in instance profile ${ROLE}`,
    ]);
    expect(result.instanceProfileArn).toBe(PROFILE_ARN);
  });

  it("replaces a drifted trust policy and records the previous document", async () => {
    // Prepare
    const previous = {
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ],
    };
    accountHas({ role: role(previous), attached: true, profile: profile([ROLE]) });

    // Act
    const result = await act();

    // Assess
    expect(iamMock).toHaveReceivedCommandTimes(UpdateAssumeRolePolicyCommand, 1);
    const sent = iamMock.commandCalls(UpdateAssumeRolePolicyCommand)[0]?.args[0].input;
    expect(sent?.RoleName).toBe(ROLE);
    expect(JSON.parse(sent?.PolicyDocument ?? "null")).toEqual(nodeTrust);
    expect(writeCommands(iamMock)).toEqual(["UpdateAssumeRolePolicyCommand"]);
    const change = result.changes.find((c) => c.type === "TrustPolicy");
    expect(change).toMatchObject({ type: "TrustPolicy", role: ROLE });
    expect(JSON.parse(change?.type === "TrustPolicy" ? change.previousDocument : "null")).toEqual(previous);
  });

  it("keeps an equal trust policy written with a one-element list", async () => {
    // Prepare
    const sameTrust = {
      Statement: [
        { Action: ["sts:AssumeRole"], Principal: { Service: ["ec2.amazonaws.com"] }, Effect: "Allow" },
      ],
      Version: "2012-10-17",
    };
    accountHas({ role: role(sameTrust), attached: true, profile: profile([ROLE]) });

    // Act
    await act();

    // Assess
    expect(iamMock).not.toHaveReceivedCommand(UpdateAssumeRolePolicyCommand);
  });

  it("attaches the instance policy when only the attachment is missing", async () => {
    // Prepare
    accountHas({ role: role(), attached: false, profile: profile([ROLE]) });

    // Act
    const result = await act();

    // Assess
    expect(writeCommands(iamMock)).toEqual(["AttachRolePolicyCommand"]);
    expect(iamMock).toHaveReceivedCommandWith(AttachRolePolicyCommand, {
      RoleName: ROLE,
      PolicyArn: INSTANCE_POLICY_ARN,
    });
    expect(result.changes).toEqual([
      { type: "RolePolicyAttachment", role: ROLE, policyArn: INSTANCE_POLICY_ARN },
    ]);
  });

  it("creates the instance profile and puts the role in it when the profile is missing", async () => {
    // Prepare
    accountHas({ role: role(), attached: true });

    // Act
    const result = await act();

    // Assess
    expect(writeCommands(iamMock)).toEqual([
      "CreateInstanceProfileCommand",
      "AddRoleToInstanceProfileCommand",
    ]);
    expect(iamMock).toHaveReceivedCommandWith(CreateInstanceProfileCommand, {
      InstanceProfileName: ROLE,
      Tags: ourTags(EXECUTION),
    });
    expect(result.changes).toEqual([
      { type: "InstanceProfile", name: ROLE },
      { type: "InstanceProfileRole", profile: ROLE, role: ROLE },
    ]);
    expect(result.instanceProfileArn).toBe(PROFILE_ARN);
  });

  it("puts the role into an existing empty instance profile", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile([]) });

    // Act
    const result = await act();

    // Assess
    expect(writeCommands(iamMock)).toEqual(["AddRoleToInstanceProfileCommand"]);
    expect(result.changes).toEqual([{ type: "InstanceProfileRole", profile: ROLE, role: ROLE }]);
  });

  it("leaves an instance profile that already holds the role alone", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile([ROLE]) });

    // Act
    await act();

    // Assess
    expect(iamMock).not.toHaveReceivedCommand(CreateInstanceProfileCommand);
    expect(iamMock).not.toHaveReceivedCommand(AddRoleToInstanceProfileCommand);
  });

  it("fails with ResourceConflict when the instance profile holds another role", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile(["someone-elses-role"]) });

    // Act
    const error = await rejectionOf(act());

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ResourceConflict");
    expect(error.message).toContain("someone-elses-role");
    expect(error.message).toContain(`EnsureNodeRole: instance profile ${ROLE}`);
    expect(iamMock).not.toHaveReceivedCommand(AddRoleToInstanceProfileCommand);
  });

  it("fails with the permanent NoSuchEntity naming the policy when the instance policy is missing", async () => {
    // Prepare
    accountHas({ role: role(), attached: false, profile: profile([ROLE]) });
    iamMock
      .on(AttachRolePolicyCommand)
      .rejects(awsError.noSuchEntity(`Policy ${INSTANCE_POLICY_ARN} does not exist.`));

    // Act
    const error = await rejectionOf(act());

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("NoSuchEntity");
    expect(error.message).toContain(
      `EnsureNodeRole: AttachRolePolicy ${INSTANCE_POLICY_ARN} to role ${ROLE}`,
    );
    expect(iamMock).not.toHaveReceivedCommand(GetInstanceProfileCommand);
  });

  it("reports a role left by an earlier attempt of this execution as a change", async () => {
    // Prepare
    accountHas({ role: role(nodeTrust, ourTags(EXECUTION)), attached: true, profile: profile([ROLE]) });

    // Act
    const result = await act();

    // Assess
    expect(writeCommands(iamMock)).toEqual([]);
    expect(result.changes).toEqual([{ type: "Role", name: ROLE }]);
    expect(result.found).not.toContain(`role ${ROLE}`);
  });
});

describe("ensure-node-role handler", () => {
  it("answers the role and instance profile of the account it runs in", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile([ROLE]) });

    // Act
    const result = await handler(stepInput(), lambdaContext(TARGET));

    // Assess
    expect(result).toMatchObject({ roleArn: ROLE_ARN, instanceProfileArn: PROFILE_ARN, changes: [] });
  });
});
