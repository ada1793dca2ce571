import {
  CreateAccessKeyCommand,
  CreateLoginProfileCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetRoleCommand,
  GetUserCommand,
  IAMClient,
  ListRolesCommand,
  ServiceFailureException,
} from "@aws-sdk/client-iam";
import { CreateSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { beforeEach, describe, expect, it } from "vitest";
import { classifyAwsError } from "../../../functions/lib/errors.ts";
import { awsError, FakeAws, isWrite } from "../../../local/aws/index.ts";

const HOME = "111111111111";
const TARGET = "222222222222";
const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});
const PASSWORD = "Correct-Horse-Battery-1";

let world: FakeAws;
let iam: IAMClient;
let secrets: SecretsManagerClient;

beforeEach(() => {
  world = new FakeAws();
  world.addAccount(TARGET, { roles: ["OrganizationAccountAccessRole"] });
  const clients = world.clients({ accountId: HOME, region: "us-east-1" });
  [iam, secrets] = [clients.iam(), clients.secrets()];
});

const createRole = (RoleName = "r") =>
  iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: TRUST }));

describe("the calls log", () => {
  it("records every call with the caller's account, service, operation and input, failed ones too", async () => {
    await createRole();
    await iam.send(new GetRoleCommand({ RoleName: "missing" })).catch(() => undefined);
    expect(world.calls).toEqual([
      {
        accountId: HOME,
        service: "iam",
        command: "CreateRole",
        input: { RoleName: "r", AssumeRolePolicyDocument: TRUST },
      },
      {
        accountId: HOME,
        service: "iam",
        command: "GetRole",
        input: { RoleName: "missing" },
        error: "NoSuchEntityException",
      },
    ]);
  });

  it("never holds a secret value: passwords, secret strings and secret keys are redacted", async () => {
    await iam.send(new CreateUserCommand({ UserName: "u" }));
    await iam.send(new CreateLoginProfileCommand({ UserName: "u", Password: PASSWORD }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "u" }))).AccessKey;
    await secrets.send(
      new CreateSecretCommand({
        Name: "s",
        SecretString: `{"p":"${PASSWORD}","k":"${key?.SecretAccessKey}"}`,
      }),
    );

    const log = JSON.stringify(world.calls);
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain(key?.SecretAccessKey);
    expect(world.calls.find((c) => c.command === "CreateLoginProfile")?.input.Password).toBe("[redacted]");
    expect(world.calls.find((c) => c.command === "CreateSecret")?.input.SecretString).toBe("[redacted]");
  });

  it("counts writes: every operation but Get*, List* and Describe*", async () => {
    await createRole("a");
    await createRole("b");
    await iam.send(new GetRoleCommand({ RoleName: "a" }));
    expect(world.writeCount()).toBe(2);
    expect(world.writeCount((c) => c.accountId === TARGET)).toBe(0);
    expect(["GetRole", "ListAccessKeys", "DescribeSecret"].map(isWrite)).toEqual([false, false, false]);
    expect(["CreateRole", "AssumeRole", "TagResource"].map(isWrite)).toEqual([true, true, true]);
  });
});

describe("fault injection", () => {
  it("throws the given error for matching calls a given number of times, then lets them through", async () => {
    world.fail(
      (c) => c.command === "CreateRole",
      () => awsError("iam", "Throttling", "Rate exceeded"),
      2,
    );
    const errors = [await createRole().catch((e: unknown) => e), await createRole().catch((e: unknown) => e)];
    expect(errors.map(classifyAwsError)).toEqual(["Throttling", "Throttling"]);
    expect(errors[0]).not.toBe(errors[1]);
    await createRole();
    expect(world.account(HOME).roles.has("r")).toBe(true);
    expect(world.calls.map((c) => c.error)).toEqual(["Throttling", "Throttling", undefined]);
  });

  it("fails matching calls for good unless undone, and leaves other calls alone", async () => {
    const failure = new ServiceFailureException({ message: "boom", $metadata: {} });
    const undo = world.fail((c) => c.service === "iam" && c.input.RoleName === "bad", failure);
    for (let n = 0; n < 3; n++) await expect(createRole("bad")).rejects.toBe(failure);
    expect(classifyAwsError(failure)).toBe("ServiceFailure");
    await createRole("good");
    undo();
    await createRole("bad");
  });
});

describe("snapshots", () => {
  it("are equal while nothing is written, and differ after a write", async () => {
    await createRole();
    const before = world.snapshot();
    await iam.send(new GetRoleCommand({ RoleName: "r" }));
    await iam.send(new GetUserCommand({ UserName: "x" })).catch(() => undefined);
    expect(world.snapshot()).toEqual(before);
    expect(Object.keys(before).sort()).toEqual([HOME, TARGET]);
    expect(before[TARGET]?.roles.map((r) => r.RoleName)).toEqual(["OrganizationAccountAccessRole"]);

    await iam.send(new CreateUserCommand({ UserName: "u" }));
    expect(world.snapshot()).not.toEqual(before);
  });

  it("hold no secret value", async () => {
    await iam.send(new CreateUserCommand({ UserName: "u" }));
    await iam.send(new CreateLoginProfileCommand({ UserName: "u", Password: PASSWORD }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "u" }))).AccessKey;
    await secrets.send(new CreateSecretCommand({ Name: "s", SecretString: "the-secret-value" }));

    const snapshot = world.snapshot()[HOME];
    const text = JSON.stringify(snapshot);
    for (const secret of [PASSWORD, key?.SecretAccessKey ?? "", "the-secret-value"])
      expect(text).not.toContain(secret);
    expect(snapshot?.users[0]).toMatchObject({ UserName: "u", login: true, keys: [key?.AccessKeyId] });
    expect(snapshot?.secrets[0]?.versions).toHaveLength(1);
  });
});

describe("wiring", () => {
  it("throws a clear error for an operation the fake does not implement", async () => {
    await expect(iam.send(new ListRolesCommand({}))).rejects.toThrow(
      "FakeAws: iam ListRolesCommand is not implemented",
    );
  });

  it("answers with the SDK's metadata, and sends nothing: a client aimed at no server works", async () => {
    expect((await createRole()).$metadata.httpStatusCode).toBe(200);
    const assumed = await world
      .clients({ accountId: HOME, region: "us-east-1" })
      .sts()
      .send(
        new AssumeRoleCommand({
          RoleArn: `arn:aws:iam::${TARGET}:role/OrganizationAccountAccessRole`,
          RoleSessionName: "offline",
        }),
      );
    const c = assumed.Credentials;
    const credentials = {
      accessKeyId: c?.AccessKeyId ?? "",
      secretAccessKey: c?.SecretAccessKey ?? "",
      sessionToken: c?.SessionToken,
    };
    const offline = world.wire(
      new IAMClient({ region: "us-east-1", endpoint: "http://127.0.0.1:9", credentials, maxAttempts: 1 }),
    );
    const role = await offline.send(new GetRoleCommand({ RoleName: "OrganizationAccountAccessRole" }));
    expect(role.Role?.Arn).toBe(`arn:aws:iam::${TARGET}:role/OrganizationAccountAccessRole`);
  });
});
