import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/lib/config.ts";
import { createRuntime } from "../../functions/lib/define-step.ts";
import { type AccessKeyCredentials, run, verifyAccessKey } from "../../functions/verify-access-key.ts";
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
const deps = () => ({
  secrets: new SecretsManagerClient({}),
  stsFor: (credentials: AccessKeyCredentials) => {
    signedWith.push(credentials);
    return new STSClient({ region: HOME.region, credentials });
  },
});

beforeEach(() => {
  secretsMock.reset();
  stsMock.reset();
  signedWith = [];
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
  });

  it.each(["InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "UnrecognizedClientException"])(
    "throws KeyNotPropagated while AWS answers %s",
    async (code) => {
      // Prepare
      stsMock.on(GetCallerIdentityCommand).rejects(stsRefusal(code));

      // Act
      const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

      // Assess
      expect(error.name).toBe("KeyNotPropagated");
      expect(error.message).toContain(`access key ${CREDENTIALS.accessKeyId}`);
      expect(error.message).toContain(code);
    },
  );

  it("succeeds once IAM has propagated the key, after KeyNotPropagated attempts", async () => {
    // Prepare: the state machine retries the step while it throws KeyNotPropagated.
    stsMock
      .on(GetCallerIdentityCommand)
      .rejectsOnce(stsRefusal("InvalidClientTokenId"))
      .rejectsOnce(stsRefusal("InvalidClientTokenId"))
      .resolves({ Arn: USER_ARN });
    const outcomes: string[] = [];

    // Act
    let result: Awaited<ReturnType<typeof verifyAccessKey>> | undefined;
    for (let attempt = 0; attempt < 5 && !result; attempt++) {
      result = await verifyAccessKey(redisInput(), deps()).catch((error: Error) => {
        outcomes.push(error.name);
        return undefined;
      });
    }

    // Assess
    expect(outcomes).toEqual(["KeyNotPropagated", "KeyNotPropagated"]);
    expect(result?.verifiedArn).toBe(USER_ARN);
  });

  it("does not mistake a denied call for propagation", async () => {
    // Prepare
    stsMock.on(GetCallerIdentityCommand).rejects(awsError.accessDenied());

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

    // Assess
    expect(error.name).toBe("AccessDenied");
    expect(error.message).toContain("VerifyAccessKey: GetCallerIdentity");
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
  });

  it("names a missing secret NoSuchEntity", async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).rejects(awsError.secretNotFound());

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));

    // Assess
    expect(error.name).toBe("NoSuchEntity");
    expect(error.message).toContain(`GetSecretValue ${SECRET_ARN}`);
  });

  it("never puts the secret key in its output or its errors", async () => {
    // Prepare
    stsMock
      .on(GetCallerIdentityCommand)
      .rejectsOnce(stsRefusal("SignatureDoesNotMatch"))
      .resolves({ Arn: USER_ARN });

    // Act
    const error = await rejectionOf(verifyAccessKey(redisInput(), deps()));
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
