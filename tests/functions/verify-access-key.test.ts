import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/lib/config.ts";
import { createRuntime } from "../../functions/lib/define-step.ts";
import {
  type AccessKeyCredentials,
  BUDGET_MS,
  POLL_MS,
  run,
  type VerifyDeps,
  verifyAccessKey,
} from "../../functions/verify-access-key.ts";
import {
  CREDENTIALS,
  leakedSecrets,
  redisInput,
  SECRET_ARN,
  storeSecrets,
} from "../local/redis-cloud/fixtures.ts";
import { arnIn, awsError, HOME, rejectionOf, TARGET } from "../support/aws.ts";

const secretsMock = mockClient(SecretsManagerClient);
const stsMock = mockClient(STSClient);

const USER_ARN = arnIn(TARGET, "user/redislabs-user");

/** STS's answer to a key it does not know (yet). */
const stsRefusal = (name: string) =>
  new STSServiceException({
    name,
    $fault: "client",
    message: "The security token included in the request is invalid.",
    $metadata: { httpStatusCode: 403 },
  });

/** The credentials each STS client was made with. */
let signedWith: AccessKeyCredentials[];
/** The step's clock: it moves only when the step sleeps, by what it asked for. */
let clock: number;
let sleeps: number[];
const deps = (): VerifyDeps => ({
  secrets: new SecretsManagerClient({}),
  stsFor: (credentials: AccessKeyCredentials) => {
    signedWith.push(credentials);
    return new STSClient({ region: HOME.region, credentials });
  },
  pollMs: POLL_MS,
  budgetMs: BUDGET_MS,
  sleep: async (ms) => {
    sleeps.push(ms);
    clock += ms;
  },
  now: () => clock,
});

beforeEach(() => {
  secretsMock.reset();
  stsMock.reset();
  signedWith = [];
  clock = 1_700_000_000_000;
  sleeps = [];
  storeSecrets(secretsMock);
});

describe("verifyAccessKey", () => {
  it("calls GetCallerIdentity signed with the new key from the secret", async () => {
    // Prepare
    stsMock.on(GetCallerIdentityCommand).resolves({ Arn: USER_ARN, Account: TARGET });

    // Act
    const result = await verifyAccessKey(redisInput(), deps());

    // Assess
    expect(result).toEqual({ accessKeyId: CREDENTIALS.accessKeyId, verifiedArn: USER_ARN });
    expect(signedWith).toEqual([
      { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: CREDENTIALS.secretAccessKey },
    ]);
    expect(secretsMock).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ARN });
    expect(sleeps).toEqual([]);
  });

  it.each(["InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "UnrecognizedClientException"])(
    "checks again every second while AWS answers %s, and throws KeyNotPropagated once its budget is spent",
    async (code) => {
      // Prepare
      stsMock.on(GetCallerIdentityCommand).rejects(stsRefusal(code));

      // Act
      const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

      // Assess: a check at 0 s, 1 s, ... 90 s; one more would end past the budget.
      const attempts = BUDGET_MS / POLL_MS + 1;
      expect(error.name).toBe("KeyNotPropagated");
      expect(error.message).toContain(`access key ${CREDENTIALS.accessKeyId}`);
      expect(error.message).toContain(code);
      expect(error.message).toContain(`after ${attempts} attempts in 90 s`);
      expect(stsMock).toHaveReceivedCommandTimes(GetCallerIdentityCommand, attempts);
      expect(sleeps).toEqual(Array.from({ length: attempts - 1 }, () => POLL_MS));
      // The secret is read once, and one client signs every check.
      expect(secretsMock).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
      expect(signedWith).toHaveLength(1);
    },
  );

  it("succeeds on the check after IAM has propagated the key, having slept between the refused ones", async () => {
    // Prepare: refused three times, accepted on the fourth check.
    stsMock
      .on(GetCallerIdentityCommand)
      .rejectsOnce(stsRefusal("InvalidClientTokenId"))
      .rejectsOnce(stsRefusal("InvalidClientTokenId"))
      .rejectsOnce(stsRefusal("SignatureDoesNotMatch"))
      .resolves({ Arn: USER_ARN });

    // Act
    const result = await verifyAccessKey(redisInput(), deps());

    // Assess
    expect(result).toEqual({ accessKeyId: CREDENTIALS.accessKeyId, verifiedArn: USER_ARN });
    expect(stsMock).toHaveReceivedCommandTimes(GetCallerIdentityCommand, 4);
    expect(sleeps).toEqual([POLL_MS, POLL_MS, POLL_MS]);
  });

  it("counts the time its checks take against the budget, not only its sleeps", async () => {
    // Prepare: each refused check takes 4 s (a slow network), so checks start 5 s apart.
    stsMock.on(GetCallerIdentityCommand).callsFake(async () => {
      clock += 4_000;
      throw stsRefusal("InvalidClientTokenId");
    });

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), { ...deps(), budgetMs: 20_000 }));

    // Assess: checks start at 0, 5, 10, 15 and 20 s (the last ends at 24 s); a sixth would start
    // at 25 s, past the budget. The function's timeout leaves room for that last check.
    expect(error.name).toBe("KeyNotPropagated");
    expect(error.message).toContain("after 5 attempts in 24 s");
    expect(sleeps).toEqual([POLL_MS, POLL_MS, POLL_MS, POLL_MS]);
  });

  it("does not mistake a denied call for propagation", async () => {
    // Prepare
    stsMock.on(GetCallerIdentityCommand).rejects(awsError.accessDenied());

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

    // Assess
    expect(error.name).toBe("AccessDenied");
    expect(error.message).toContain("VerifyAccessKey: GetCallerIdentity");
    expect(stsMock).toHaveReceivedCommandTimes(GetCallerIdentityCommand, 1);
    expect(sleeps).toEqual([]);
  });

  it("stops at a permanent failure after refusals, without checking again", async () => {
    // Prepare: refused while propagating, then denied for good (an SCP applied meanwhile).
    stsMock
      .on(GetCallerIdentityCommand)
      .rejectsOnce(stsRefusal("InvalidClientTokenId"))
      .rejects(awsError.accessDenied());

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

    // Assess
    expect(error.name).toBe("AccessDenied");
    expect(stsMock).toHaveReceivedCommandTimes(GetCallerIdentityCommand, 2);
    expect(sleeps).toEqual([POLL_MS]);
  });

  it.each([
    ["another account's user", arnIn("333333333333", "user/redislabs-user")],
    ["another user", arnIn(TARGET, "user/someone-else")],
    ["a role", arnIn(TARGET, "assumed-role/redislabs-user/session")],
  ])("refuses a key that belongs to %s", async (_who, arn) => {
    // Prepare
    stsMock.on(GetCallerIdentityCommand).resolves({ Arn: arn });

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

    // Assess
    expect(error.name).toBe("UnexpectedError");
    expect(error.message).toContain(`not to redislabs-user of account ${TARGET}`);
    expect(stsMock).toHaveReceivedCommandTimes(GetCallerIdentityCommand, 1);
  });

  it("refuses a secret without the key, naming the field and not the values", async () => {
    // Prepare
    storeSecrets(secretsMock, { ...CREDENTIALS, secretAccessKey: "" });

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

    // Assess
    expect(error.name).toBe("UnexpectedError");
    expect(error.message).toContain(`secret ${SECRET_ARN} lacks secretAccessKey`);
    expect(leakedSecrets(error.message)).toEqual([]);
    expect(stsMock).not.toHaveReceivedCommand(GetCallerIdentityCommand);
    expect(sleeps).toEqual([]);
  });

  it("names a missing secret NoSuchEntity", async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).rejects(awsError.secretNotFound());

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

    // Assess
    expect(error.name).toBe("NoSuchEntity");
    expect(error.message).toContain(`GetSecretValue ${SECRET_ARN}`);
    // Not retried within the step: a missing secret does not appear by waiting.
    expect(secretsMock).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(stsMock).not.toHaveReceivedCommand(GetCallerIdentityCommand);
    expect(sleeps).toEqual([]);
  });

  it("never puts the secret key in its output or its errors", async () => {
    // Prepare: refused through a budget of two checks, then accepted.
    stsMock
      .on(GetCallerIdentityCommand)
      .rejectsOnce(stsRefusal("SignatureDoesNotMatch"))
      .rejectsOnce(stsRefusal("SignatureDoesNotMatch"))
      .resolves({ Arn: USER_ARN });

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), { ...deps(), budgetMs: POLL_MS }));
    const result = await verifyAccessKey(redisInput(), deps());

    // Assess
    expect(leakedSecrets(`${error.message} ${JSON.stringify(result)}`)).toEqual([]);
  });
});

describe("verify-access-key run", () => {
  it("signs with the new key, not the function's role, and refuses an input without the secret ARN", async () => {
    // Prepare
    stsMock.on(GetCallerIdentityCommand).resolves({ Arn: USER_ARN });
    const signers: (AccessKeyCredentials | undefined)[] = [];
    const runtime = createRuntime(
      HOME,
      {
        iam: () => undefined as never,
        sts: (credentials) => {
          signers.push(credentials as AccessKeyCredentials | undefined);
          return new STSClient({ region: HOME.region, ...(credentials ? { credentials } : {}) });
        },
        secrets: () => new SecretsManagerClient({}),
        dynamodb: () => undefined as never,
        organizations: () => undefined as never,
      },
      loadConfig({}),
    );

    // Act
    const result = await run(redisInput(), runtime);
    const error = await rejectionOf(run({ ...redisInput(), credentialsSecretArn: "redis-cloud/x" }, runtime));

    // Assess
    expect(result.verifiedArn).toBe(USER_ARN);
    expect(signers).toEqual([
      { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: CREDENTIALS.secretAccessKey },
    ]);
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toContain("credentialsSecretArn");
  });
});
