import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DetachRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  IAMClient,
  type InstanceProfile,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  RemoveRoleFromInstanceProfileCommand,
  type Role,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { ensureNodeRole, handler } from "../../functions/ensure-node-role.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import type { ChangeRecorder } from "../../functions/lib/registry.ts";
import { PlanSink } from "../../functions/lib/step.ts";
import nodeTrust from "../../policies/redislabs-cluster-node-role.trust.json" with { type: "json" };
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
  type Tag,
  writeCommands,
  writesAtEachAdoption,
} from "../support/aws.ts";

const ROLE = "redislabs-cluster-node-role";
const ROLE_ARN = arnIn(TARGET, `role/${ROLE}`);
const PROFILE_ARN = arnIn(TARGET, `instance-profile/${ROLE}`);
const INSTANCE_POLICY_ARN = arnIn(TARGET, "policy/RedisLabsInstanceRolePolicy");

const iamMock = mockClient(IAMClient);
const dynamoMock = mockClient(DynamoDBClient);

const act = (registry: ChangeRecorder = NO_REGISTRY, input = stepInput(), plan?: PlanSink) =>
  ensureNodeRole(input, { iam: new IAMClient({}), home: HOME, registry, ...(plan ? { plan } : {}) });

/** A trust policy someone else wrote: Lambda may assume the role. */
const LAMBDA_TRUST = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
};
const OTHER_POLICY_ARN = arnIn(TARGET, "policy/SomeoneElsesPolicy");

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
function accountHas(state: {
  role?: Role;
  attached?: boolean;
  profile?: InstanceProfile;
  otherAttached?: string[];
  inline?: string[];
}) {
  if (state.role) iamMock.on(GetRoleCommand, { RoleName: ROLE }).resolves({ Role: state.role });
  else iamMock.on(GetRoleCommand).rejects(awsError.noSuchEntity());
  iamMock.on(CreateRoleCommand).resolves({ Role: role(nodeTrust, ourTags(EXECUTION)) });
  iamMock.on(ListAttachedRolePoliciesCommand, { RoleName: ROLE }).resolves({
    AttachedPolicies: [
      ...(state.attached
        ? [{ PolicyName: "RedisLabsInstanceRolePolicy", PolicyArn: INSTANCE_POLICY_ARN }]
        : []),
      ...(state.otherAttached ?? []).map((arn) => ({ PolicyArn: arn })),
    ],
  });
  iamMock.on(ListRolePoliciesCommand, { RoleName: ROLE }).resolves({ PolicyNames: state.inline ?? [] });
  iamMock.on(AttachRolePolicyCommand).resolves({});
  iamMock.on(DetachRolePolicyCommand).resolves({});
  iamMock.on(RemoveRoleFromInstanceProfileCommand).resolves({});
  iamMock.on(UpdateAssumeRolePolicyCommand).resolves({});
  if (state.profile) iamMock.on(GetInstanceProfileCommand).resolves({ InstanceProfile: state.profile });
  else iamMock.on(GetInstanceProfileCommand).rejects(awsError.noSuchEntity());
  iamMock.on(CreateInstanceProfileCommand).resolves({ InstanceProfile: profile([], ourTags(EXECUTION)) });
  iamMock.on(AddRoleToInstanceProfileCommand).resolves({});
}

beforeEach(() => {
  iamMock.reset();
  dynamoMock.reset();
  // The account registry the handlers read what the product owns from.
  dynamoMock.on(GetItemCommand).resolves({ Item: runningItem() });
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

  it("replaces a drifted trust policy of its own role and records the previous document", async () => {
    // Prepare
    const previous = LAMBDA_TRUST;
    accountHas({ role: role(previous), attached: true, profile: profile([ROLE]) });

    // Act
    const result = await act(ownedRegistry([{ type: "Role", name: ROLE }]).registry);

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

  it("fails with ForeignResource, changing nothing, when the instance profile holds another role", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile(["someone-elses-role"]) });

    // Act
    const error = await rejectionOf(act());

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain(`EnsureNodeRole: `);
    expect(error.message).toContain(`instance profile ${ROLE} (it holds role someone-elses-role)`);
    expect(writeCommands(iamMock)).toEqual([]);
  });

  it("adopts an instance profile holding another role: the roles before recorded first, that role taken out, ours put in", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile(["someone-elses-role"]) });
    const { registry, recorded } = ownedRegistry();
    const writesBefore = writesAtEachAdoption(registry, iamMock);

    // Act
    const result = await act(registry, adoptingInput());

    // Assess
    expect(writesBefore).toEqual([[]]);
    expect(writeCommands(iamMock)).toEqual([
      "RemoveRoleFromInstanceProfileCommand",
      "AddRoleToInstanceProfileCommand",
    ]);
    expect(iamMock).toHaveReceivedCommandWith(RemoveRoleFromInstanceProfileCommand, {
      InstanceProfileName: ROLE,
      RoleName: "someone-elses-role",
    });
    expect(recorded).toEqual([
      {
        change: { type: "InstanceProfile", name: ROLE },
        origin: "adopted",
        prior: JSON.stringify({ roles: ["someone-elses-role"] }),
      },
      {
        change: { type: "InstanceProfileRoleRemoval", profile: ROLE, role: "someone-elses-role" },
        origin: "created",
      },
      { change: { type: "InstanceProfileRole", profile: ROLE, role: ROLE }, origin: "created" },
    ]);
    expect(result.adopted).toEqual([`instance profile ${ROLE}`]);
  });

  it("detaches another policy from its own role, recording the detachment, without adopting anything", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, otherAttached: [OTHER_POLICY_ARN], profile: profile([ROLE]) });
    const { registry, recorded } = ownedRegistry([{ type: "Role", name: ROLE }]);

    // Act
    const result = await act(registry);

    // Assess
    expect(writeCommands(iamMock)).toEqual(["DetachRolePolicyCommand"]);
    expect(recorded).toEqual([
      {
        change: { type: "RolePolicyDetachment", role: ROLE, policyArn: OTHER_POLICY_ARN },
        origin: "created",
      },
    ]);
    expect(result.adopted).toBeUndefined();
  });

  it("refuses a role it did not make whose trust differs with ForeignResource naming the trust, writing nothing", async () => {
    // Prepare
    accountHas({ role: role(LAMBDA_TRUST), attached: true, profile: profile([ROLE]) });
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(registry));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain(
      `role ${ROLE} (its trust policy is not the one Redis requires: ${JSON.stringify(LAMBDA_TRUST)})`,
    );
    expect(writeCommands(iamMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("adopts a role it did not make: trust and policies before recorded first, then the trust replaced and the other policy detached", async () => {
    // Prepare
    accountHas({
      role: role(LAMBDA_TRUST),
      attached: true,
      otherAttached: [OTHER_POLICY_ARN],
      profile: profile([ROLE]),
    });
    const { registry, recorded } = ownedRegistry();
    const writesBefore = writesAtEachAdoption(registry, iamMock);

    // Act
    const result = await act(registry, adoptingInput());

    // Assess
    expect(writesBefore).toEqual([[]]);
    expect(writeCommands(iamMock)).toEqual(["UpdateAssumeRolePolicyCommand", "DetachRolePolicyCommand"]);
    expect(iamMock).toHaveReceivedCommandWith(DetachRolePolicyCommand, {
      RoleName: ROLE,
      PolicyArn: OTHER_POLICY_ARN,
    });
    expect(recorded[0]).toEqual({
      change: { type: "Role", name: ROLE },
      origin: "adopted",
      prior: JSON.stringify({ trust: LAMBDA_TRUST, attached: [INSTANCE_POLICY_ARN, OTHER_POLICY_ARN] }),
    });
    expect(result.changes).toEqual([
      { type: "TrustPolicy", role: ROLE, previousDocument: JSON.stringify(LAMBDA_TRUST) },
      { type: "RolePolicyDetachment", role: ROLE, policyArn: OTHER_POLICY_ARN },
    ]);
    expect(recorded.slice(1).map((entry) => entry.change)).toEqual(result.changes);
    expect(result.adopted).toEqual([`role ${ROLE}`]);
  });

  it("refuses to adopt a role with inline policies, which would be lost", async () => {
    // Prepare
    accountHas({ role: role(LAMBDA_TRUST), attached: true, inline: ["s3-access"], profile: profile([ROLE]) });
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(registry, adoptingInput()));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain("it has inline policies (s3-access), which would be lost");
    expect(writeCommands(iamMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("uses a role and instance profile it did not make that are exactly as required, recording nothing", async () => {
    // Prepare
    accountHas({ role: role(), attached: true, profile: profile([ROLE]) });
    const { registry, recorded } = ownedRegistry();

    // Act
    const result = await act(registry, adoptingInput());

    // Assess
    expect(writeCommands(iamMock)).toEqual([]);
    expect(recorded).toEqual([]);
    expect(result.changes).toEqual([]);
    expect(result.adopted).toBeUndefined();
    expect(result.found).toContain(`role ${ROLE}`);
    expect(result.found).toContain(`instance profile ${ROLE}`);
  });

  it("in a plan sends no write and lists the writes a run makes in a fresh account", async () => {
    // Prepare
    accountHas({});
    await act();
    const made = writeCommands(iamMock).map((name) => name.replace(/Command$/, ""));
    iamMock.reset();
    accountHas({});
    const plan = new PlanSink();

    // Act
    const result = await act(NO_REGISTRY, stepInput(), plan);

    // Assess
    expect(made).toHaveLength(4);
    expect(writeCommands(iamMock)).toEqual([]);
    expect(plan.writes.map((write) => write.operation)).toEqual(made);
    expect(plan.writes.every((write) => write.step === "EnsureNodeRole")).toBe(true);
    expect(result.roleArn).toBe(`(new role ${ROLE})`);
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
