import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  GetRoleCommand,
} from "@aws-sdk/client-iam";
import { ListSecretsCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
  STSServiceException,
} from "@aws-sdk/client-sts";
import { beforeEach, describe, expect, it } from "vitest";
import { TargetClients } from "../../../functions/lib/aws.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { FakeAws, type FakeClientFactory } from "../../../local/aws/index.ts";

const HOME = "111111111111";
const TARGET = "222222222222";
const ACCESS_ROLE = `arn:aws:iam::${TARGET}:role/OrganizationAccountAccessRole`;
const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

let time: number;
let world: FakeAws;
let clients: FakeClientFactory;

beforeEach(() => {
  time = Date.UTC(2025, 0, 1);
  world = new FakeAws({ now: () => time });
  world.addAccount(TARGET, { roles: ["OrganizationAccountAccessRole"] });
  clients = world.clients({ accountId: HOME, region: "eu-west-1" });
});

const assume = (RoleArn = ACCESS_ROLE, DurationSeconds?: number) =>
  clients.sts().send(new AssumeRoleCommand({ RoleArn, RoleSessionName: "test-session", DurationSeconds }));

describe("identities", () => {
  it("acts in the home account for a client made without credentials", async () => {
    const identity = await clients.sts().send(new GetCallerIdentityCommand({}));
    expect(identity.Account).toBe(HOME);
    expect(identity.Arn).toMatch(new RegExp(`^arn:aws:sts::${HOME}:assumed-role/`));
    await clients.iam().send(new CreateRoleCommand({ RoleName: "r", AssumeRolePolicyDocument: TRUST }));
    expect(world.account(HOME).roles.has("r")).toBe(true);
  });

  it("acts in the target account with the credentials of an AssumeRole into its access role", async () => {
    const answer = await assume();
    const c = answer.Credentials;
    expect(c?.AccessKeyId).toMatch(/^ASIA/);
    expect(c?.Expiration).toEqual(new Date(time + 3600_000));
    expect(answer.AssumedRoleUser?.Arn).toBe(
      `arn:aws:sts::${TARGET}:assumed-role/OrganizationAccountAccessRole/test-session`,
    );

    const credentials = {
      accessKeyId: c?.AccessKeyId ?? "",
      secretAccessKey: c?.SecretAccessKey ?? "",
      sessionToken: c?.SessionToken,
    };
    const iam = clients.iam(credentials);
    await iam.send(new CreateRoleCommand({ RoleName: "made-there", AssumeRolePolicyDocument: TRUST }));
    expect(world.account(TARGET).roles.has("made-there")).toBe(true);
    expect(world.account(HOME).roles.has("made-there")).toBe(false);
    // The credentials provider of the client may as well be async.
    const viaProvider = clients.iam(async () => credentials);
    expect((await viaProvider.send(new GetRoleCommand({ RoleName: "made-there" }))).Role?.Arn).toContain(
      TARGET,
    );
  });

  it("works through the project's TargetClients, unchanged", async () => {
    const targets = new TargetClients(clients, () => time);
    const iam = await targets.iamFor(
      { partition: "aws", region: "eu-west-1", accountId: HOME },
      {
        accountId: TARGET,
        roleName: "OrganizationAccountAccessRole",
        accountName: "t",
      },
      "exec-1",
      "Test",
    );
    await iam.send(new CreateRoleCommand({ RoleName: "r", AssumeRolePolicyDocument: TRUST }));
    expect(world.account(TARGET).roles.has("r")).toBe(true);
    expect(world.calls.find((c) => c.command === "AssumeRole")?.input).toMatchObject({
      RoleArn: ACCESS_ROLE,
      RoleSessionName: "redis-byoc-exec-1",
      DurationSeconds: 900,
    });
  });

  it("answers AccessDenied, like STS, for a missing role or account", async () => {
    for (const arn of [
      `arn:aws:iam::${TARGET}:role/Missing`,
      "arn:aws:iam::999999999999:role/OrganizationAccountAccessRole",
    ]) {
      const error = await assume(arn).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(STSServiceException);
      expect((error as Error).name).toBe("AccessDenied");
    }
    const targets = new TargetClients(clients);
    const home = { partition: "aws", region: "eu-west-1", accountId: HOME };
    const target = { accountId: TARGET, roleName: "Missing", accountName: "t" };
    const failure = await targets.iamFor(home, target, "exec", "Test").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowError);
    expect((failure as WorkflowError).name).toBe("TargetAccessDenied");
  });

  it("answers AccessDenied for a role whose trust policy does not name the caller", async () => {
    const targetIam = world.clients({ accountId: TARGET, region: "eu-west-1" }).iam();
    const trusting = (principal: string) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { AWS: principal }, Action: "sts:AssumeRole" }],
      });
    await targetIam.send(
      new CreateRoleCommand({ RoleName: "others", AssumeRolePolicyDocument: trusting("333333333333") }),
    );
    await targetIam.send(
      new CreateRoleCommand({ RoleName: "ours", AssumeRolePolicyDocument: trusting(HOME) }),
    );
    await expect(assume(`arn:aws:iam::${TARGET}:role/others`)).rejects.toMatchObject({
      name: "AccessDenied",
    });
    await expect(assume(`arn:aws:iam::${TARGET}:role/ours`)).resolves.toBeDefined();
  });

  it("refuses durations beyond the role's maximum, and beyond an hour when chaining roles", async () => {
    await expect(assume(ACCESS_ROLE, 7200)).rejects.toMatchObject({ name: "ValidationError" });
    await expect(assume(ACCESS_ROLE, 600)).rejects.toMatchObject({ name: "ValidationError" });
    await expect(
      clients.sts().send(new AssumeRoleCommand({ RoleArn: ACCESS_ROLE, RoleSessionName: "bad name" })),
    ).rejects.toMatchObject({
      name: "ValidationError",
    });
  });

  it("refuses a session's credentials once they expire", async () => {
    const c = (await assume(ACCESS_ROLE, 900)).Credentials;
    const sts = clients.sts({
      accessKeyId: c?.AccessKeyId ?? "",
      secretAccessKey: c?.SecretAccessKey ?? "",
      sessionToken: c?.SessionToken,
    });
    expect((await sts.send(new GetCallerIdentityCommand({}))).Account).toBe(TARGET);
    world.advance(900_000);
    await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({ name: "ExpiredToken" });
  });
});

describe("access key propagation", () => {
  const newKey = async () => {
    const iam = clients.iam();
    await iam.send(new CreateUserCommand({ UserName: "redislabs-user" }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "redislabs-user" }))).AccessKey;
    return { accessKeyId: key?.AccessKeyId ?? "", secretAccessKey: key?.SecretAccessKey ?? "" };
  };

  it("refuses a new key with InvalidClientTokenId until IAM has propagated it, then answers its user", async () => {
    world.keyPropagationMs = 5_000;
    const sts = clients.sts(await newKey());
    const error = await sts.send(new GetCallerIdentityCommand({})).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(STSServiceException);
    expect(error).toMatchObject({ name: "InvalidClientTokenId", $fault: "client" });

    time += 4_999;
    await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
    world.advance(1);
    expect(await sts.send(new GetCallerIdentityCommand({}))).toMatchObject({
      Account: HOME,
      Arn: `arn:aws:iam::${HOME}:user/redislabs-user`,
      UserId: expect.stringMatching(/^AIDA/),
    });
  });

  it("propagates after 10 seconds by default, and refuses the key once deleted or with a wrong secret", async () => {
    const key = await newKey();
    const wired = world.wire(new STSClient({ region: "eu-west-1", credentials: key }));
    world.advance(9_999);
    await expect(wired.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
    world.advance(1);
    await expect(wired.send(new GetCallerIdentityCommand({}))).resolves.toMatchObject({ Account: HOME });

    const wrong = clients.sts({ ...key, secretAccessKey: "x".repeat(40) });
    await expect(wrong.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
    await clients
      .iam()
      .send(new DeleteAccessKeyCommand({ UserName: "redislabs-user", AccessKeyId: key.accessKeyId }));
    await expect(wired.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
  });

  it("refuses unknown keys in every service, with that service's error", async () => {
    const keys = { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x".repeat(40) };
    const secrets = world.wire(new SecretsManagerClient({ region: "eu-west-1", credentials: keys }));
    await expect(clients.iam(keys).send(new GetRoleCommand({ RoleName: "r" }))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
    await expect(secrets.send(new ListSecretsCommand({}))).rejects.toMatchObject({
      name: "UnrecognizedClientException",
    });
  });
});
