import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateInstanceProfileCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteConflictException,
  DeleteInstanceProfileCommand,
  DeleteLoginProfileCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteRoleCommand,
  DeleteUserCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  EntityAlreadyExistsException,
  GetAccountPasswordPolicyCommand,
  GetInstanceProfileCommand,
  GetLoginProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetUserCommand,
  type IAMClient,
  LimitExceededException,
  ListAccessKeysCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListPolicyVersionsCommand,
  MalformedPolicyDocumentException,
  NoSuchEntityException,
  PasswordPolicyViolationException,
  RemoveRoleFromInstanceProfileCommand,
  SetDefaultPolicyVersionCommand,
  TagRoleCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateLoginProfileCommand,
} from "@aws-sdk/client-iam";
import { beforeEach, describe, expect, it } from "vitest";
import { FakeAws } from "../../../local/aws/index.ts";

const HOME = "111111111111";
const OTHER = "222222222222";
const POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }],
});
const policyText = (action: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: action, Resource: "*" }] });
const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});
const arnOf = (name: string, account = HOME) => `arn:aws:iam::${account}:policy/${name}`;

let world: FakeAws;
let iam: IAMClient;

beforeEach(() => {
  world = new FakeAws();
  iam = world.clients({ accountId: HOME, region: "us-east-1" }).iam();
});

const createPolicy = (name = "p", document = POLICY) =>
  iam.send(new CreatePolicyCommand({ PolicyName: name, PolicyDocument: document }));
const createRole = (name = "r", trust = TRUST) =>
  iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust }));
const createUser = (name = "u") => iam.send(new CreateUserCommand({ UserName: name }));

describe("names", () => {
  it("refuses a second role, user, policy or instance profile of the same name, whatever its case", async () => {
    await createRole("Node");
    await createUser("Admin");
    await createPolicy("Policy");
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "Profile" }));

    await expect(createRole("node")).rejects.toBeInstanceOf(EntityAlreadyExistsException);
    await expect(createUser("ADMIN")).rejects.toBeInstanceOf(EntityAlreadyExistsException);
    await expect(createPolicy("policy")).rejects.toBeInstanceOf(EntityAlreadyExistsException);
    await expect(
      iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "Profile" })),
    ).rejects.toBeInstanceOf(EntityAlreadyExistsException);
    // Found whatever the case, answered with the case it was created with.
    expect((await iam.send(new GetRoleCommand({ RoleName: "NODE" }))).Role?.RoleName).toBe("Node");
  });

  it("lets two accounts hold entities of the same name", async () => {
    world.addAccount(OTHER, { roles: ["OrganizationAccountAccessRole"] });
    await createRole("same");
    const other = world.clients({ accountId: OTHER, region: "us-east-1" }).iam();
    await expect(
      other.send(new CreateRoleCommand({ RoleName: "same", AssumeRolePolicyDocument: TRUST })),
    ).resolves.toBeDefined();
  });

  it("answers NoSuchEntity for an unknown role, user, instance profile or policy", async () => {
    await expect(iam.send(new GetRoleCommand({ RoleName: "x" }))).rejects.toBeInstanceOf(
      NoSuchEntityException,
    );
    await expect(iam.send(new GetUserCommand({ UserName: "x" }))).rejects.toBeInstanceOf(
      NoSuchEntityException,
    );
    await expect(
      iam.send(new GetInstanceProfileCommand({ InstanceProfileName: "x" })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
    await expect(iam.send(new GetPolicyCommand({ PolicyArn: arnOf("x") }))).rejects.toBeInstanceOf(
      NoSuchEntityException,
    );
  });
});

describe("managed policy versions", () => {
  it("keeps at most five versions: the sixth is LimitExceeded until one is deleted", async () => {
    await createPolicy("p");
    for (let n = 2; n <= 5; n++) {
      const made = await iam.send(
        new CreatePolicyVersionCommand({ PolicyArn: arnOf("p"), PolicyDocument: policyText(`s3:Get${n}`) }),
      );
      expect(made.PolicyVersion?.VersionId).toBe(`v${n}`);
    }
    const sixth = new CreatePolicyVersionCommand({ PolicyArn: arnOf("p"), PolicyDocument: POLICY });
    await expect(iam.send(sixth)).rejects.toBeInstanceOf(LimitExceededException);

    await iam.send(new DeletePolicyVersionCommand({ PolicyArn: arnOf("p"), VersionId: "v2" }));
    // Version numbers are never reused.
    expect((await iam.send(sixth)).PolicyVersion?.VersionId).toBe("v6");
  });

  it("never deletes the default version, and moves the default on request", async () => {
    await createPolicy("p");
    await iam.send(new CreatePolicyVersionCommand({ PolicyArn: arnOf("p"), PolicyDocument: POLICY }));
    const deleteV1 = new DeletePolicyVersionCommand({ PolicyArn: arnOf("p"), VersionId: "v1" });
    await expect(iam.send(deleteV1)).rejects.toBeInstanceOf(DeleteConflictException);

    await iam.send(new SetDefaultPolicyVersionCommand({ PolicyArn: arnOf("p"), VersionId: "v2" }));
    await iam.send(deleteV1);
    expect((await iam.send(new GetPolicyCommand({ PolicyArn: arnOf("p") }))).Policy?.DefaultVersionId).toBe(
      "v2",
    );
    await expect(
      iam.send(new SetDefaultPolicyVersionCommand({ PolicyArn: arnOf("p"), VersionId: "v9" })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
  });

  it("answers documents URL-encoded, as sent; ListPolicyVersions newest first and without documents", async () => {
    const pretty = JSON.stringify(JSON.parse(POLICY), null, 2);
    await createPolicy("p", pretty);
    await iam.send(
      new CreatePolicyVersionCommand({
        PolicyArn: arnOf("p"),
        PolicyDocument: policyText("s3:*"),
        SetAsDefault: true,
      }),
    );

    const v1 = await iam.send(new GetPolicyVersionCommand({ PolicyArn: arnOf("p"), VersionId: "v1" }));
    expect(v1.PolicyVersion?.Document).toBe(encodeURIComponent(pretty));
    expect(v1.PolicyVersion?.IsDefaultVersion).toBe(false);
    const listed = await iam.send(new ListPolicyVersionsCommand({ PolicyArn: arnOf("p") }));
    expect(listed.Versions?.map((v) => [v.VersionId, v.IsDefaultVersion, v.Document])).toEqual([
      ["v2", true, undefined],
      ["v1", false, undefined],
    ]);
    expect(listed.Versions?.[0]?.CreateDate).toBeInstanceOf(Date);
  });
});

describe("deletion conflicts", () => {
  it("refuses to delete a policy while it is attached or has other versions", async () => {
    await createPolicy("p");
    await createRole("r");
    await createUser("u");
    await iam.send(new AttachRolePolicyCommand({ RoleName: "r", PolicyArn: arnOf("p") }));
    await iam.send(new AttachUserPolicyCommand({ UserName: "u", PolicyArn: arnOf("p") }));
    await iam.send(new CreatePolicyVersionCommand({ PolicyArn: arnOf("p"), PolicyDocument: POLICY }));
    const deletePolicy = new DeletePolicyCommand({ PolicyArn: arnOf("p") });

    await expect(iam.send(deletePolicy)).rejects.toBeInstanceOf(DeleteConflictException);
    await iam.send(new DetachRolePolicyCommand({ RoleName: "r", PolicyArn: arnOf("p") }));
    await expect(iam.send(deletePolicy)).rejects.toBeInstanceOf(DeleteConflictException);
    await iam.send(new DetachUserPolicyCommand({ UserName: "u", PolicyArn: arnOf("p") }));
    await expect(iam.send(deletePolicy)).rejects.toThrow(/versions/);
    await iam.send(new DeletePolicyVersionCommand({ PolicyArn: arnOf("p"), VersionId: "v2" }));
    await iam.send(deletePolicy);
    expect(world.account(HOME).policies.size).toBe(0);
  });

  it("refuses to delete a role with attached policies or in an instance profile", async () => {
    await createPolicy("p");
    await createRole("r");
    await iam.send(new AttachRolePolicyCommand({ RoleName: "r", PolicyArn: arnOf("p") }));
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "ip" }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: "ip", RoleName: "r" }));

    await expect(iam.send(new DeleteRoleCommand({ RoleName: "r" }))).rejects.toThrow(/detach all policies/);
    await iam.send(new DetachRolePolicyCommand({ RoleName: "r", PolicyArn: arnOf("p") }));
    await expect(iam.send(new DeleteRoleCommand({ RoleName: "r" }))).rejects.toThrow(/instance profile/);
    await expect(
      iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: "ip" })),
    ).rejects.toBeInstanceOf(DeleteConflictException);
    await iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: "ip", RoleName: "r" }));
    await iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: "ip" }));
    await iam.send(new DeleteRoleCommand({ RoleName: "r" }));
    expect(world.account(HOME).roles.size).toBe(0);
  });

  it("refuses to delete a user with access keys, a login profile or attached policies", async () => {
    await createPolicy("p");
    await createUser("u");
    const key = await iam.send(new CreateAccessKeyCommand({ UserName: "u" }));
    await iam.send(new CreateLoginProfileCommand({ UserName: "u", Password: "Aa1!aaaaaaaa" }));
    await iam.send(new AttachUserPolicyCommand({ UserName: "u", PolicyArn: arnOf("p") }));
    const deleteUser = new DeleteUserCommand({ UserName: "u" });

    await expect(iam.send(deleteUser)).rejects.toThrow(/access keys/);
    await iam.send(new DeleteAccessKeyCommand({ UserName: "u", AccessKeyId: key.AccessKey?.AccessKeyId }));
    await expect(iam.send(deleteUser)).rejects.toThrow(/login profile/);
    await iam.send(new DeleteLoginProfileCommand({ UserName: "u" }));
    await expect(iam.send(deleteUser)).rejects.toBeInstanceOf(DeleteConflictException);
    await iam.send(new DetachUserPolicyCommand({ UserName: "u", PolicyArn: arnOf("p") }));
    await iam.send(deleteUser);
    expect(world.account(HOME).users.size).toBe(0);
  });
});

describe("quotas and references", () => {
  it("gives a user at most two access keys: AKIA ids and 40-character secrets", async () => {
    await createUser("u");
    const first = await iam.send(new CreateAccessKeyCommand({ UserName: "u" }));
    await iam.send(new CreateAccessKeyCommand({ UserName: "u" }));
    await expect(iam.send(new CreateAccessKeyCommand({ UserName: "u" }))).rejects.toBeInstanceOf(
      LimitExceededException,
    );

    expect(first.AccessKey?.AccessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(first.AccessKey?.SecretAccessKey).toHaveLength(40);
    const listed = await iam.send(new ListAccessKeysCommand({ UserName: "u" }));
    expect(listed.AccessKeyMetadata).toHaveLength(2);
    expect(listed.AccessKeyMetadata?.[0]).not.toHaveProperty("SecretAccessKey");
    await expect(
      iam.send(new DeleteAccessKeyCommand({ UserName: "u", AccessKeyId: "AKIA0000000000000000" })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
  });

  it("puts at most one role in an instance profile, and answers the role with it", async () => {
    await createRole("a");
    await createRole("b");
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "ip" }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: "ip", RoleName: "a" }));
    await expect(
      iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: "ip", RoleName: "b" })),
    ).rejects.toBeInstanceOf(LimitExceededException);

    const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: "ip" }));
    expect(profile.InstanceProfile?.Roles?.map((r) => r.RoleName)).toEqual(["a"]);
    expect(profile.InstanceProfile?.Arn).toBe(`arn:aws:iam::${HOME}:instance-profile/ip`);
  });

  it("attaches only existing policies of the account, once, and lists the attachments", async () => {
    await createPolicy("p");
    await createRole("r");
    await createUser("u");
    for (const arn of [arnOf("missing"), arnOf("p", OTHER), "arn:aws:iam::aws:policy/ReadOnlyAccess"]) {
      await expect(
        iam.send(new AttachRolePolicyCommand({ RoleName: "r", PolicyArn: arn })),
      ).rejects.toBeInstanceOf(NoSuchEntityException);
    }
    await expect(
      iam.send(new AttachRolePolicyCommand({ RoleName: "missing", PolicyArn: arnOf("p") })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
    await iam.send(new AttachRolePolicyCommand({ RoleName: "r", PolicyArn: arnOf("p") }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: "r", PolicyArn: arnOf("p") }));
    await iam.send(new AttachUserPolicyCommand({ UserName: "u", PolicyArn: arnOf("p") }));

    const expected = [{ PolicyArn: arnOf("p"), PolicyName: "p" }];
    const forRole = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: "r" }));
    const forUser = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: "u" }));
    expect(forRole.AttachedPolicies).toEqual(expected);
    expect(forUser.AttachedPolicies).toEqual(expected);
    expect((await iam.send(new GetPolicyCommand({ PolicyArn: arnOf("p") }))).Policy?.AttachmentCount).toBe(2);
    await expect(
      iam.send(new DetachUserPolicyCommand({ UserName: "u", PolicyArn: arnOf("other") })),
    ).rejects.toBeInstanceOf(NoSuchEntityException);
  });
});

describe("policy documents", () => {
  const statement = { Effect: "Allow", Action: "s3:GetObject", Resource: "*" };
  it.each([
    ["not JSON", "{"],
    ["without Version", JSON.stringify({ Statement: [statement] })],
    ["with an unknown Version", JSON.stringify({ Version: "2020-01-01", Statement: [statement] })],
    ["without Statement", JSON.stringify({ Version: "2012-10-17" })],
    ["with an empty Statement", JSON.stringify({ Version: "2012-10-17", Statement: [] })],
    [
      "with a Principal",
      JSON.stringify({ Version: "2012-10-17", Statement: [{ ...statement, Principal: "*" }] }),
    ],
    [
      "without Effect",
      JSON.stringify({ Version: "2012-10-17", Statement: [{ Action: "s3:*", Resource: "*" }] }),
    ],
  ])("refuses a managed policy %s", async (_, document) => {
    await expect(createPolicy("p", document)).rejects.toBeInstanceOf(MalformedPolicyDocumentException);
    expect(world.account(HOME).policies.size).toBe(0);
  });

  it("refuses a trust policy without Principal or with Resource", async () => {
    const trust = (s: object) => JSON.stringify({ Version: "2012-10-17", Statement: [s] });
    const assume = { Effect: "Allow", Action: "sts:AssumeRole" };
    await expect(createRole("r", trust(assume))).rejects.toBeInstanceOf(MalformedPolicyDocumentException);
    await expect(
      createRole("r", trust({ ...assume, Principal: { AWS: HOME }, Resource: "*" })),
    ).rejects.toBeInstanceOf(MalformedPolicyDocumentException);
    await createRole("r");
    await expect(
      iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: "r", PolicyDocument: POLICY })),
    ).rejects.toBeInstanceOf(MalformedPolicyDocumentException);
  });

  it("rewrites a bare account id in a trust policy to its root, and answers the trust URL-encoded", async () => {
    const trust = {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: [OTHER, "arn:aws:iam::333333333333:root"] },
          Action: "sts:AssumeRole",
        },
      ],
    };
    await createRole("r", JSON.stringify(trust, null, 2));
    await iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: "r",
        PolicyDocument: JSON.stringify({
          ...trust,
          Statement: [{ ...trust.Statement[0], Principal: { AWS: OTHER } }],
        }),
      }),
    );

    const document =
      (await iam.send(new GetRoleCommand({ RoleName: "r" }))).Role?.AssumeRolePolicyDocument ?? "";
    expect(document).toMatch(/^%7B/);
    expect(JSON.parse(decodeURIComponent(document)).Statement[0].Principal).toEqual({
      AWS: `arn:aws:iam::${OTHER}:root`,
    });
  });
});

describe("login profiles and the password policy", () => {
  it("answers NoSuchEntity for the account password policy until one is set", async () => {
    const get = new GetAccountPasswordPolicyCommand({});
    await expect(iam.send(get)).rejects.toBeInstanceOf(NoSuchEntityException);
    world.setPasswordPolicy(HOME, { MinimumPasswordLength: 20, RequireSymbols: true });
    expect((await iam.send(get)).PasswordPolicy).toEqual({ MinimumPasswordLength: 20, RequireSymbols: true });
  });

  it("checks passwords against IAM's default rules when the account has no policy", async () => {
    await createUser("u");
    for (const weak of ["Aa1!", "alllowercase1"]) {
      await expect(
        iam.send(new CreateLoginProfileCommand({ UserName: "u", Password: weak })),
      ).rejects.toBeInstanceOf(PasswordPolicyViolationException);
    }
    await iam.send(new CreateLoginProfileCommand({ UserName: "u", Password: "Lower-and-UPPER" }));
  });

  it("checks passwords against the account policy, on create and update, and never answers them", async () => {
    world.setPasswordPolicy(HOME, { MinimumPasswordLength: 12, RequireSymbols: true, RequireNumbers: true });
    await createUser("u");
    const create = (Password: string) => iam.send(new CreateLoginProfileCommand({ UserName: "u", Password }));
    await expect(create("NoSymbols123456")).rejects.toBeInstanceOf(PasswordPolicyViolationException);
    await expect(create("Short1!")).rejects.toBeInstanceOf(PasswordPolicyViolationException);
    await create("long-enough-1!");
    await expect(create("long-enough-2!")).rejects.toBeInstanceOf(EntityAlreadyExistsException);
    await expect(
      iam.send(new UpdateLoginProfileCommand({ UserName: "u", Password: "nonumbers!!!!!" })),
    ).rejects.toBeInstanceOf(PasswordPolicyViolationException);
    await iam.send(new UpdateLoginProfileCommand({ UserName: "u", Password: "another-one-2!" }));

    const profile = await iam.send(new GetLoginProfileCommand({ UserName: "u" }));
    expect(profile.LoginProfile).toEqual({
      UserName: "u",
      CreateDate: expect.any(Date),
      PasswordResetRequired: false,
    });
    expect(world.account(HOME).users.get("u")?.login?.password).toBe("another-one-2!");
    await iam.send(new DeleteLoginProfileCommand({ UserName: "u" }));
    await expect(iam.send(new GetLoginProfileCommand({ UserName: "u" }))).rejects.toBeInstanceOf(
      NoSuchEntityException,
    );
  });
});

describe("tags and answers", () => {
  it("keeps the tags given at creation and by Tag*, and answers them with the entity", async () => {
    const Tags = [{ Key: "ManagedBy", Value: "us" }];
    await iam.send(new CreatePolicyCommand({ PolicyName: "p", PolicyDocument: POLICY, Tags }));
    await iam.send(new CreateRoleCommand({ RoleName: "r", AssumeRolePolicyDocument: TRUST, Tags }));
    await iam.send(new CreateUserCommand({ UserName: "u", Tags }));
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "ip", Tags }));
    await iam.send(
      new TagRoleCommand({
        RoleName: "r",
        Tags: [
          { Key: "ManagedBy", Value: "them" },
          { Key: "x", Value: "1" },
        ],
      }),
    );

    expect((await iam.send(new GetPolicyCommand({ PolicyArn: arnOf("p") }))).Policy?.Tags).toEqual(Tags);
    expect((await iam.send(new GetUserCommand({ UserName: "u" }))).User?.Tags).toEqual(Tags);
    const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: "ip" }));
    expect(profile.InstanceProfile?.Tags).toEqual(Tags);
    expect((await iam.send(new GetRoleCommand({ RoleName: "r" }))).Role?.Tags).toEqual([
      { Key: "ManagedBy", Value: "them" },
      { Key: "x", Value: "1" },
    ]);
  });

  it("answers ARNs and ids like IAM, and dates as Date objects", async () => {
    const role = (await createRole("r")).Role;
    const user = (await createUser("u")).User;
    const policy = (await createPolicy("p")).Policy;
    expect(role).toMatchObject({
      Arn: `arn:aws:iam::${HOME}:role/r`,
      Path: "/",
      RoleId: expect.stringMatching(/^AROA/),
    });
    expect(user).toMatchObject({
      Arn: `arn:aws:iam::${HOME}:user/u`,
      UserId: expect.stringMatching(/^AIDA/),
    });
    expect(policy).toMatchObject({
      Arn: arnOf("p"),
      DefaultVersionId: "v1",
      PolicyId: expect.stringMatching(/^ANPA/),
    });
    for (const date of [role?.CreateDate, user?.CreateDate, policy?.CreateDate, policy?.UpdateDate]) {
      expect(date).toBeInstanceOf(Date);
    }
  });

  it("hands out copies: changing an answer does not change the account", async () => {
    await iam.send(
      new CreateRoleCommand({
        RoleName: "r",
        AssumeRolePolicyDocument: TRUST,
        Tags: [{ Key: "a", Value: "1" }],
      }),
    );
    const answer = await iam.send(new GetRoleCommand({ RoleName: "r" }));
    answer.Role?.Tags?.push({ Key: "b", Value: "2" });
    expect(world.account(HOME).roles.get("r")?.Tags).toEqual([{ Key: "a", Value: "1" }]);
  });
});
