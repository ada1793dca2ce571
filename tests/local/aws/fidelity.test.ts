import {
  CreatePolicyCommand,
  CreateRoleCommand,
  GetRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { describe, expect, it } from "vitest";
import { classifyAwsError } from "../../../functions/lib/errors.ts";
import { awsError, FakeAws } from "../../../local/aws/index.ts";
import consoleTrust from "../../../policies/redislabs-role.trust.json" with { type: "json" };

/*
 * What the in-memory AWS answers the way AWS does on the wire: the HTTP status and request id of
 * every error, the SDK's own retries, and the limits IAM, STS and Secrets Manager enforce.
 */

const HOME = { accountId: "111111111111", region: "us-east-1" };
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe("errors", () => {
  it("carry the HTTP status and a request id, as the SDK makes them from a response", async () => {
    const clients = new FakeAws().clients(HOME);

    const error = (await failure(clients.iam().send(new GetRoleCommand({ RoleName: "missing" })))) as {
      name: string;
      $metadata: { httpStatusCode?: number; requestId?: string };
    };

    expect(error.name).toBe("NoSuchEntityException");
    expect(error.$metadata.httpStatusCode).toBe(404);
    expect(error.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("classify an unmodelled 503 as transient, as the wire's status makes it", () => {
    const unavailable = awsError("iam", "ServiceUnavailable", "Service Unavailable");

    expect(unavailable.$metadata.httpStatusCode).toBe(503);
    expect(unavailable.$fault).toBe("server");
    expect(classifyAwsError(unavailable)).toBe("ServiceFailure");
    expect(awsError("secretsmanager", "AccessDeniedException").$metadata.httpStatusCode).toBe(400);
  });

  it("let the SDK retry a throttle itself when the fake answers where HTTP would be sent", async () => {
    const world = new FakeAws({ sdkRetries: true });
    const iam = world.clients(HOME).iam();
    world.fail(
      (call) => call.command === "CreateRole",
      () => awsError("iam", "Throttling", "Rate exceeded"),
      2,
    );

    const made = await iam.send(new CreateRoleCommand({ RoleName: "r", AssumeRolePolicyDocument: TRUST }));

    expect(made.$metadata.attempts).toBe(3);
    expect(world.calls.map((c) => c.error ?? "ok")).toEqual(["Throttling", "Throttling", "ok"]);
  }, 20_000);

  it("stop at the first error without sdkRetries: an injected fault outlasts the SDK's attempts", async () => {
    const world = new FakeAws();
    world.fail(
      (call) => call.command === "CreateRole",
      () => awsError("iam", "Throttling"),
      1,
    );

    const error = await failure(
      world
        .clients(HOME)
        .iam()
        .send(new CreateRoleCommand({ RoleName: "r", AssumeRolePolicyDocument: TRUST })),
    );

    expect((error as Error).name).toBe("Throttling");
    expect(world.calls).toHaveLength(1);
  });
});

const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/** A policy document of exactly `size` non-whitespace characters, padded inside the Sid. */
function policyOfSize(size: number, spaces = 0): string {
  const shell = (sid: string) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Sid: sid, Effect: "Allow", Action: "s3:GetObject", Resource: "*" }],
    });
  const sid = "A".repeat(size - shell("").length);
  return shell(sid).replace('"Version"', `${" ".repeat(spaces)}"Version"`);
}

describe("limits", () => {
  it("refuses a managed policy document over 6,144 characters, not counting whitespace", async () => {
    const iam = new FakeAws().clients(HOME).iam();
    const create = (name: string, document: string) =>
      failure(iam.send(new CreatePolicyCommand({ PolicyName: name, PolicyDocument: document })));

    expect(await create("at-limit", policyOfSize(6144, 500))).toBeUndefined();
    const over = (await create("over", policyOfSize(6145))) as Error;

    expect(over.name).toBe("LimitExceededException");
    expect(over.message).toBe("Cannot exceed quota for PolicySize: 6144");
  });

  it("refuses a ClientRequestToken shorter than 32 or longer than 64 characters", async () => {
    const secrets = new FakeAws().clients(HOME).secrets();
    const create = (token: string) =>
      failure(
        secrets.send(
          new CreateSecretCommand({ Name: `s${token.length}`, SecretString: "v", ClientRequestToken: token }),
        ),
      );

    expect(await create("a".repeat(32))).toBeUndefined();
    expect(await create("a".repeat(64))).toBeUndefined();
    expect(((await create("a".repeat(31))) as Error).name).toBe("ValidationException");
    expect(((await create("a".repeat(65))) as Error).name).toBe("ValidationException");
  });
});

describe("MFA conditions in trust policies", () => {
  const mfaTrust = (operator: string) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${HOME.accountId}:root` },
          Action: "sts:AssumeRole",
          Condition: { [operator]: { "aws:MultiFactorAuthPresent": "true" } },
        },
      ],
    });

  it("accepts the console role's trust policy and refuses an unknown condition operator", async () => {
    const iam = new FakeAws().clients(HOME).iam();
    const trust = JSON.stringify(consoleTrust);
    await iam.send(new CreateRoleCommand({ RoleName: "console", AssumeRolePolicyDocument: trust }));

    const error = await failure(
      iam.send(
        new UpdateAssumeRolePolicyCommand({ RoleName: "console", PolicyDocument: mfaTrust("Boolean") }),
      ),
    );

    expect((error as Error).name).toBe("MalformedPolicyDocumentException");
  });

  it("lets a caller assume a role that requires MFA only with an MFA code", async () => {
    const clients = new FakeAws().clients(HOME);
    const trust = mfaTrust("Bool");
    await clients.iam().send(new CreateRoleCommand({ RoleName: "mfa", AssumeRolePolicyDocument: trust }));
    const assume = (mfa: boolean) =>
      failure(
        clients.sts().send(
          new AssumeRoleCommand({
            RoleArn: `arn:aws:iam::${HOME.accountId}:role/mfa`,
            RoleSessionName: "s1",
            ...(mfa ? { SerialNumber: "arn:aws:iam::111111111111:mfa/me", TokenCode: "123456" } : {}),
          }),
        ),
      );

    expect(((await assume(false)) as Error).name).toBe("AccessDenied");
    expect(await assume(true)).toBeUndefined();
  });
});
