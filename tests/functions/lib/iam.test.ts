import {
  AttachUserPolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  DeletePolicyVersionCommand,
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  IAMClient,
  type InstanceProfile,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListPolicyVersionsCommand,
  MalformedPolicyDocumentException,
  type Role,
} from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import {
  ensureInstanceProfile,
  ensureManagedPolicy,
  ensureRole,
  ensureUserPolicyAttached,
  lostRace,
} from "../../../functions/lib/iam.ts";
import { Ownership } from "../../../functions/lib/ownership.ts";
import { type Change, StepRecorder } from "../../../functions/lib/step.ts";
import {
  arnIn,
  awsError,
  EXECUTION,
  encoded,
  FOREIGN_TAGS,
  ourTags,
  registryItemOwning,
  rejectionOf,
  TARGET,
  writeCommands,
} from "../../support/aws.ts";

const iamMock = mockClient(IAMClient);
const iam = () => new IAMClient({});
const recorder = () => new StepRecorder("EnsureThing", EXECUTION);
/** A recorder whose registry says an earlier run made these resources. */
const owning = (owned: Change[]) =>
  new StepRecorder("EnsureThing", EXECUTION, undefined, {
    ownership: new Ownership(registryItemOwning(owned), false),
  });

const POLICY_ARN = arnIn(TARGET, "policy/Thing");
const DOCUMENT = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:ListBucket", Resource: "*" }],
};
const DRIFTED = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
const spec = { arn: POLICY_ARN, name: "Thing", description: "a thing", document: DOCUMENT };
const TRUST = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
};

const role = (tags = FOREIGN_TAGS): Role => ({
  Path: "/",
  RoleName: "thing-role",
  RoleId: "AROATHING",
  Arn: arnIn(TARGET, "role/thing-role"),
  CreateDate: new Date("2024-01-01T00:00:00Z"),
  AssumeRolePolicyDocument: encoded(TRUST),
  Tags: tags,
});

const profile = (roles: Role[]): InstanceProfile => ({
  Path: "/",
  InstanceProfileName: "thing-profile",
  InstanceProfileId: "AIPATHING",
  Arn: arnIn(TARGET, "instance-profile/thing-profile"),
  CreateDate: new Date("2024-01-01T00:00:00Z"),
  Roles: roles,
});

beforeEach(() => {
  iamMock.reset();
});

describe("ensureManagedPolicy", () => {
  it("fails with the transient ConcurrentModification when a policy created concurrently cannot be read yet", async () => {
    // Prepare
    iamMock.on(GetPolicyCommand).rejects(awsError.noSuchEntity());
    iamMock.on(CreatePolicyCommand).rejects(awsError.alreadyExists());

    // Act
    const error = await rejectionOf(ensureManagedPolicy(iam(), spec, recorder()));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ConcurrentModification");
    expect(error.message).toBe(`EnsureThing: ${POLICY_ARN} exists but cannot be read yet`);
    expect(iamMock).toHaveReceivedCommandTimes(CreatePolicyCommand, 2);
  });

  it("reads version v1 when IAM names no default version", async () => {
    // Prepare
    iamMock.on(GetPolicyCommand).resolves({ Policy: { Arn: POLICY_ARN } });
    iamMock.on(GetPolicyVersionCommand).resolves({ PolicyVersion: { Document: encoded(DOCUMENT) } });

    // Act
    await ensureManagedPolicy(iam(), spec, recorder());

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(GetPolicyVersionCommand, {
      PolicyArn: POLICY_ARN,
      VersionId: "v1",
    });
  });

  it("records both the policy and its new version when it corrects a policy of this run", async () => {
    // Prepare
    iamMock
      .on(GetPolicyCommand)
      .resolves({ Policy: { Arn: POLICY_ARN, DefaultVersionId: "v1", Tags: ourTags(EXECUTION) } });
    iamMock.on(GetPolicyVersionCommand).resolves({ PolicyVersion: { Document: encoded(DRIFTED) } });
    iamMock
      .on(ListPolicyVersionsCommand)
      .resolves({ Versions: [{ VersionId: "v1", IsDefaultVersion: true }] });
    iamMock.on(CreatePolicyVersionCommand).resolves({ PolicyVersion: { VersionId: "v2" } });
    const rec = recorder();

    // Act
    await ensureManagedPolicy(iam(), spec, rec);

    // Assess
    expect(rec.changes).toEqual([
      { type: "Policy", arn: POLICY_ARN },
      { type: "PolicyVersion", arn: POLICY_ARN, versionId: "v2", previousDefaultVersionId: "v1" },
    ]);
  });

  it("deletes no version while fewer than five exist", async () => {
    // Prepare
    iamMock.on(GetPolicyCommand).resolves({ Policy: { Arn: POLICY_ARN, DefaultVersionId: "v4" } });
    iamMock.on(GetPolicyVersionCommand).resolves({ PolicyVersion: { Document: encoded(DRIFTED) } });
    iamMock.on(ListPolicyVersionsCommand).resolves({
      Versions: ["v1", "v2", "v3", "v4"].map((id) => ({ VersionId: id, IsDefaultVersion: id === "v4" })),
    });
    iamMock.on(CreatePolicyVersionCommand).resolves({ PolicyVersion: { VersionId: "v5" } });

    // Act
    await ensureManagedPolicy(iam(), spec, owning([{ type: "Policy", arn: POLICY_ARN }]));

    // Assess
    expect(iamMock).not.toHaveReceivedCommand(DeletePolicyVersionCommand);
    expect(writeCommands(iamMock)).toEqual(["CreatePolicyVersionCommand"]);
  });
});

describe("ensureRole", () => {
  const roleSpec = { name: "thing-role", description: "a role", trust: TRUST, policyArn: POLICY_ARN };

  it("re-reads a role created concurrently and keeps it when its trust matches", async () => {
    // Prepare
    iamMock.on(GetRoleCommand).rejectsOnce(awsError.noSuchEntity()).resolves({ Role: role() });
    iamMock.on(CreateRoleCommand).rejects(awsError.alreadyExists());
    iamMock.on(ListAttachedRolePoliciesCommand).resolves({ AttachedPolicies: [{ PolicyArn: POLICY_ARN }] });
    const rec = recorder();

    // Act
    const arn = await ensureRole(iam(), roleSpec, rec);

    // Assess
    expect(arn).toBe(arnIn(TARGET, "role/thing-role"));
    expect(writeCommands(iamMock)).toEqual(["CreateRoleCommand"]);
    expect(rec.report()).toEqual({
      changes: [],
      found: ["role thing-role", `attachment ${POLICY_ARN} to role thing-role`],
    });
  });

  it("fails with ConcurrentModification when the concurrently created role cannot be read yet", async () => {
    // Prepare
    iamMock.on(GetRoleCommand).rejects(awsError.noSuchEntity());
    iamMock.on(CreateRoleCommand).rejects(awsError.alreadyExists());

    // Act
    const error = await rejectionOf(ensureRole(iam(), roleSpec, recorder()));

    // Assess
    expect(error.name).toBe("ConcurrentModification");
    expect(error.message).toContain("thing-role");
  });

  it("fails with MalformedPolicy when IAM refuses the trust policy", async () => {
    // Prepare
    iamMock.on(GetRoleCommand).rejects(awsError.noSuchEntity());
    iamMock
      .on(CreateRoleCommand)
      .rejects(new MalformedPolicyDocumentException({ message: "Invalid principal", $metadata: {} }));

    // Act
    const error = await rejectionOf(ensureRole(iam(), roleSpec, recorder()));

    // Assess
    expect(error.name).toBe("MalformedPolicy");
    expect(error.message).toContain("EnsureThing: CreateRole thing-role");
  });
});

describe("ensureInstanceProfile", () => {
  it("takes over an empty profile created concurrently", async () => {
    // Prepare
    iamMock
      .on(GetInstanceProfileCommand)
      .rejectsOnce(awsError.noSuchEntity())
      .resolves({ InstanceProfile: profile([]) });
    iamMock.on(CreateInstanceProfileCommand).rejects(awsError.alreadyExists());
    const rec = recorder();

    // Act
    const arn = await ensureInstanceProfile(iam(), "thing-profile", "thing-role", rec);

    // Assess
    expect(arn).toBe(arnIn(TARGET, "instance-profile/thing-profile"));
    expect(writeCommands(iamMock)).toEqual([
      "CreateInstanceProfileCommand",
      "AddRoleToInstanceProfileCommand",
    ]);
    expect(rec.changes).toEqual([
      { type: "InstanceProfileRole", profile: "thing-profile", role: "thing-role" },
    ]);
  });

  it("fails with ConcurrentModification when the concurrently created profile cannot be read yet", async () => {
    // Prepare
    iamMock.on(GetInstanceProfileCommand).rejects(awsError.noSuchEntity());
    iamMock.on(CreateInstanceProfileCommand).rejects(awsError.alreadyExists());

    // Act
    const error = await rejectionOf(ensureInstanceProfile(iam(), "thing-profile", "thing-role", recorder()));

    // Assess
    expect(error.name).toBe("ConcurrentModification");
    expect(iamMock).toHaveReceivedCommandTimes(CreateInstanceProfileCommand, 2);
  });
});

describe("ensureUserPolicyAttached", () => {
  it("attaches a missing policy and records the attachment", async () => {
    // Prepare
    iamMock
      .on(ListAttachedUserPoliciesCommand)
      .resolves({ AttachedPolicies: [{ PolicyArn: arnIn(TARGET, "policy/Other") }] });
    iamMock.on(AttachUserPolicyCommand).resolves({});
    const rec = recorder();

    // Act
    await ensureUserPolicyAttached(iam(), "a-user", POLICY_ARN, rec);

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(AttachUserPolicyCommand, {
      UserName: "a-user",
      PolicyArn: POLICY_ARN,
    });
    expect(rec.changes).toEqual([{ type: "UserPolicyAttachment", user: "a-user", policyArn: POLICY_ARN }]);
  });

  it("leaves an attached policy alone", async () => {
    // Prepare
    iamMock.on(ListAttachedUserPoliciesCommand).resolves({ AttachedPolicies: [{ PolicyArn: POLICY_ARN }] });
    const rec = recorder();

    // Act
    await ensureUserPolicyAttached(iam(), "a-user", POLICY_ARN, rec);

    // Assess
    expect(writeCommands(iamMock)).toEqual([]);
    expect(rec.found).toEqual([`attachment ${POLICY_ARN} to user a-user`]);
  });
});

describe("lostRace", () => {
  it("is a transient ConcurrentModification naming the step and the resource", () => {
    // Act
    const error = lostRace(recorder(), "user redislabs-user");

    // Assess
    expect(error.name).toBe("ConcurrentModification");
    expect(error.message).toBe("EnsureThing: user redislabs-user exists but cannot be read yet");
  });
});
