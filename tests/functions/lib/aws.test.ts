import { IAMClient } from "@aws-sdk/client-iam";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it, vi } from "vitest";
import {
  type ClientFactory,
  homeFromFunctionArn,
  sdkClients,
  sessionName,
  TargetClients,
} from "../../../functions/lib/aws.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import type { Target } from "../../../functions/lib/step.ts";
import { awsError, EXECUTION, HOME, rejectionOf, TARGET } from "../../support/aws.ts";

const stsMock = mockClient(STSClient);

const NOW = Date.UTC(2024, 5, 1, 12, 0, 0);
const target: Target = { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "x" };
const own: Target = { ...target, accountId: HOME.accountId };
const ROLE_ARN = `arn:aws:iam::${TARGET}:role/OrganizationAccountAccessRole`;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

type IamMaker = (credentials?: Parameters<ClientFactory["iam"]>[0]) => IAMClient;

/** Clients as Lambda would make them, with the IAM ones observable. */
function factory() {
  const iam = vi.fn<IamMaker>((credentials) => new IAMClient(credentials ? { credentials } : {}));
  const sts = new STSClient({});
  const clients: ClientFactory = {
    iam,
    sts: () => sts,
    secrets: () => new SecretsManagerClient({}),
    dynamodb: () => undefined as never,
    organizations: () => undefined as never,
  };
  return { clients, iam };
}

function stsAnswers(expiration = new Date(NOW + 3_600_000)) {
  stsMock.on(AssumeRoleCommand).resolves({
    Credentials: {
      AccessKeyId: "ASIATEMPORARY0000001",
      SecretAccessKey: "temporarySecret",
      SessionToken: "temporaryToken",
      Expiration: expiration,
    },
  });
}

beforeEach(() => {
  stsMock.reset();
});

describe("homeFromFunctionArn", () => {
  it("reads partition, region and account from the function's ARN", () => {
    // Assess
    expect(homeFromFunctionArn("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:live")).toEqual({
      partition: "aws-us-gov",
      region: "us-gov-west-1",
      accountId: "123456789012",
    });
  });

  it("fails with ConfigurationError on something that is not an ARN", () => {
    // Assess
    expect(() => homeFromFunctionArn("not-an-arn")).toThrow(WorkflowError);
    expect(() => homeFromFunctionArn("not-an-arn")).toThrow(/home account/);
  });
});

describe("sessionName", () => {
  it("names the execution", () => {
    // Assess
    expect(sessionName("onboard-42")).toBe("redis-byoc-onboard-42");
  });

  it("stays within 64 allowed characters for a long execution name full of odd characters", () => {
    // Prepare
    const odd = `Onboarding run #7 for «Payments» / prod: ${"ü".repeat(30)} 🚀 (retry) ${"x".repeat(20)}`;

    // Act
    const name = sessionName(odd);

    // Assess
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name).toMatch(SESSION_NAME);
    expect(name.startsWith("redis-byoc-Onboarding-run--7")).toBe(true);
  });

  it("keeps two long names with the same beginning apart, and one name stable", () => {
    // Prepare
    const stem = "e".repeat(70);

    // Act
    const a = sessionName(`${stem}-a`);
    const b = sessionName(`${stem}-b`);

    // Assess
    expect(a).not.toBe(b);
    expect(sessionName(`${stem}-a`)).toBe(a);
    expect(a).toHaveLength(64);
    expect(b).toMatch(SESSION_NAME);
  });
});

describe("TargetClients", () => {
  it("uses its own credentials, without AssumeRole, for the account it runs in", async () => {
    // Prepare
    const { clients, iam } = factory();
    const targets = new TargetClients(clients, () => NOW);

    // Act
    const first = await targets.iamFor(HOME, own, EXECUTION, "EnsureThing");
    const second = await targets.iamFor(HOME, own, EXECUTION, "EnsureThing");

    // Assess
    expect(stsMock).not.toHaveReceivedCommand(AssumeRoleCommand);
    expect(iam).toHaveBeenCalledTimes(1);
    expect(iam).toHaveBeenCalledWith();
    expect(second).toBe(first);
  });

  it("assumes the target's role with a session naming the execution", async () => {
    // Prepare
    stsAnswers();
    const { clients, iam } = factory();
    const targets = new TargetClients(clients, () => NOW);

    // Act
    await targets.iamFor(HOME, target, EXECUTION, "EnsureThing");

    // Assess
    expect(stsMock).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: ROLE_ARN,
      RoleSessionName: `redis-byoc-${EXECUTION}`,
    });
    expect(iam).toHaveBeenCalledWith({
      accessKeyId: "ASIATEMPORARY0000001",
      secretAccessKey: "temporarySecret",
      sessionToken: "temporaryToken",
    });
  });

  it("builds the role ARN in the home partition", async () => {
    // Prepare
    stsAnswers();
    const targets = new TargetClients(factory().clients, () => NOW);

    // Act
    await targets.iamFor({ ...HOME, partition: "aws-cn" }, target, EXECUTION, "EnsureThing");

    // Assess
    expect(stsMock).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: `arn:aws-cn:iam::${TARGET}:role/OrganizationAccountAccessRole`,
    });
  });

  it("reuses the credentials on a second call for the same execution", async () => {
    // Prepare
    stsAnswers();
    const { clients, iam } = factory();
    const targets = new TargetClients(clients, () => NOW);

    // Act
    await targets.iamFor(HOME, target, EXECUTION, "EnsureThing");
    await targets.iamFor(HOME, target, EXECUTION, "EnsureOther");

    // Assess
    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    expect(iam).toHaveBeenLastCalledWith(expect.objectContaining({ sessionToken: "temporaryToken" }));
  });

  it("assumes the role again for another execution", async () => {
    // Prepare
    stsAnswers();
    const targets = new TargetClients(factory().clients, () => NOW);

    // Act
    await targets.iamFor(HOME, target, EXECUTION, "EnsureThing");
    await targets.iamFor(HOME, target, "another-execution", "EnsureThing");

    // Assess
    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);
    expect(stsMock).toHaveReceivedNthCommandWith(AssumeRoleCommand, 2, {
      RoleSessionName: "redis-byoc-another-execution",
    });
  });

  it("assumes the role again within a minute of the credentials' expiry", async () => {
    // Prepare
    stsAnswers(new Date(NOW + 120_000));
    let now = NOW;
    const targets = new TargetClients(factory().clients, () => now);
    await targets.iamFor(HOME, target, EXECUTION, "EnsureThing");

    // Act
    now = NOW + 30_000;
    await targets.iamFor(HOME, target, EXECUTION, "EnsureThing");
    now = NOW + 61_000;
    await targets.iamFor(HOME, target, EXECUTION, "EnsureThing");

    // Assess
    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);
  });

  it("fails with TargetAccessDenied naming the role when AssumeRole is denied", async () => {
    // Prepare
    stsMock.on(AssumeRoleCommand).rejects(
      new STSServiceException({
        name: "AccessDenied",
        $fault: "client",
        message: "User is not authorized to perform: sts:AssumeRole",
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const targets = new TargetClients(factory().clients, () => NOW);

    // Act
    const error = await rejectionOf(targets.iamFor(HOME, target, EXECUTION, "EnsureThing"));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("TargetAccessDenied");
    expect(error.message).toContain(`EnsureThing: AssumeRole ${ROLE_ARN}`);
    expect(error.message).toContain("trusts this account");
  });

  it("keeps a throttled AssumeRole transient", async () => {
    // Prepare
    stsMock.on(AssumeRoleCommand).rejects(awsError.throttling());
    const targets = new TargetClients(factory().clients, () => NOW);

    // Act
    const error = await rejectionOf(targets.iamFor(HOME, target, EXECUTION, "EnsureThing"));

    // Assess
    expect(error.name).toBe("Throttling");
  });

  it("fails with UnexpectedError when AssumeRole answers no credentials", async () => {
    // Prepare
    stsMock.on(AssumeRoleCommand).resolves({});
    const targets = new TargetClients(factory().clients, () => NOW);

    // Act
    const error = await rejectionOf(targets.iamFor(HOME, target, EXECUTION, "EnsureThing"));

    // Assess
    expect(error.name).toBe("UnexpectedError");
    expect(error.message).toContain(ROLE_ARN);
  });
});

describe("sdkClients", () => {
  it("makes the home account's STS and Secrets Manager clients once", () => {
    // Prepare
    const clients = sdkClients();

    // Assess
    expect(clients.sts()).toBe(clients.sts());
    expect(clients.secrets()).toBe(clients.secrets());
    expect(clients.iam()).toBeInstanceOf(IAMClient);
  });
});
