import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type AccountCredentials,
  ensureReadersOnly,
  readCredentials,
  readersOnlyPolicy,
  requestToken,
  secretName,
  signInUrl,
  writeCredentials,
} from "../../../functions/lib/credentials-secret.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { StepRecorder } from "../../../functions/lib/step.ts";
import { awsError, EXECUTION, FOREIGN_TAGS, ourTags, rejectionOf, TARGET } from "../../support/aws.ts";

const NAME = `redis-cloud/byoc/${TARGET}`;
const ARN = `arn:aws:secretsmanager:eu-west-1:111111111111:secret:${NAME}-AbCdEf`;
const VALUE: AccountCredentials = {
  accountId: TARGET,
  accessKeyId: "AKIAKEY0000000000001",
  secretAccessKey: "secretAccessKey/0000",
  consoleUsername: "redislabs-user",
  consolePassword: "Console-Password-1!",
  signInUrl: signInUrl(TARGET),
};
const TOKEN = requestToken(NAME, EXECUTION, VALUE.accessKeyId, true);

const secretsMock = mockClient(SecretsManagerClient);
const secrets = () => new SecretsManagerClient({});
const recorder = () => new StepRecorder("EnsureUser", EXECUTION);

function secretExists(secretString: string | undefined, tags = FOREIGN_TAGS) {
  secretsMock.on(DescribeSecretCommand, { SecretId: NAME }).resolves({ ARN, Name: NAME, Tags: tags });
  secretsMock.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ ARN, SecretString: secretString });
}

beforeEach(() => {
  secretsMock.reset();
});

describe("secretName and signInUrl", () => {
  it("put the account id after the configured prefix and into the console address", () => {
    // Assess
    expect(secretName({ secretNamePrefix: "team/redis/" }, TARGET)).toBe(`team/redis/${TARGET}`);
    expect(signInUrl(TARGET)).toBe(`https://${TARGET}.signin.aws.amazon.com/console`);
  });
});

describe("readCredentials", () => {
  it("refuses a secret scheduled for deletion, naming the fix, and reads nothing of it", async () => {
    // Prepare
    secretsMock.on(DescribeSecretCommand, { SecretId: NAME }).resolves({
      ARN,
      Name: NAME,
      Tags: ourTags(EXECUTION),
      DeletedDate: new Date("2026-11-29T00:00:00Z"),
    });

    // Act
    const error = await rejectionOf(readCredentials(secrets(), NAME, recorder()));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ResourceConflict");
    expect(error.message).toContain("scheduled for deletion");
    expect(error.message).toContain("RestoreSecret");
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it("answers undefined, without reading a value, when there is no secret", async () => {
    // Prepare
    secretsMock.on(DescribeSecretCommand).rejects(awsError.secretNotFound());

    // Act
    const stored = await readCredentials(secrets(), NAME, recorder());

    // Assess
    expect(stored).toBeUndefined();
    expect(secretsMock).not.toHaveReceivedCommand(GetSecretValueCommand);
  });

  it("answers the stored value and whether this run made the secret", async () => {
    // Prepare
    secretExists(JSON.stringify(VALUE), ourTags(EXECUTION));

    // Act
    const stored = await readCredentials(secrets(), NAME, recorder());

    // Assess
    expect(stored).toEqual({ arn: ARN, value: VALUE, createdByThisRun: true });
  });

  it.each([
    ["text that is not JSON", "not json"],
    ["JSON null", "null"],
    ["no SecretString", undefined],
  ])("reads %s as an empty value", async (_case, secretString) => {
    // Prepare
    secretExists(secretString);

    // Act
    const stored = await readCredentials(secrets(), NAME, recorder());

    // Assess
    expect(stored).toEqual({ arn: ARN, value: {}, createdByThisRun: false });
  });

  it("fails with AccessDenied naming the secret when it may not be described", async () => {
    // Prepare
    secretsMock.on(DescribeSecretCommand).rejects(awsError.accessDenied());

    // Act
    const error = await rejectionOf(readCredentials(secrets(), NAME, recorder()));

    // Assess
    expect(error.name).toBe("AccessDenied");
    expect(error.message).toContain(`EnsureUser: DescribeSecret ${NAME}`);
  });
});

describe("requestToken", () => {
  it("is the same for the same inputs and looks like a UUID", () => {
    // Assess
    expect(requestToken(NAME, EXECUTION, "AKIA1", false)).toBe(requestToken(NAME, EXECUTION, "AKIA1", false));
    expect(requestToken(NAME, EXECUTION, "AKIA1", false)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
  });

  it("differs for another key, another execution, another secret or a changed password", () => {
    // Prepare
    const base = requestToken(NAME, EXECUTION, "AKIA1", false);

    // Assess
    const others = [
      requestToken(NAME, EXECUTION, "AKIA2", false),
      requestToken(NAME, "another-execution", "AKIA1", false),
      requestToken(`${NAME}x`, EXECUTION, "AKIA1", false),
      requestToken(NAME, EXECUTION, "AKIA1", true),
    ];
    expect(new Set([base, ...others]).size).toBe(5);
  });
});

describe("writeCredentials", () => {
  it("creates the secret with our tags and the token, and records it", async () => {
    // Prepare
    secretsMock.on(CreateSecretCommand).resolves({ ARN, Name: NAME });
    const rec = recorder();

    // Act
    const arn = await writeCredentials(
      secrets(),
      { name: NAME, existing: undefined, value: VALUE, token: TOKEN },
      rec,
    );

    // Assess
    expect(arn).toBe(ARN);
    expect(secretsMock).toHaveReceivedCommandWith(CreateSecretCommand, {
      Name: NAME,
      SecretString: JSON.stringify(VALUE),
      ClientRequestToken: TOKEN,
      Tags: ourTags(EXECUTION),
    });
    const description = secretsMock.commandCalls(CreateSecretCommand)[0]?.args[0].input.Description ?? "";
    expect(description).toContain(TARGET);
    expect(description).not.toContain(VALUE.secretAccessKey);
    expect(rec.changes).toEqual([{ type: "Secret", arn: ARN }]);
  });

  it("puts a new version into an existing secret without recording a change", async () => {
    // Prepare
    secretsMock.on(PutSecretValueCommand).resolves({ ARN, VersionId: "v2" });
    const rec = recorder();
    const existing = { arn: ARN, value: {}, createdByThisRun: false };

    // Act
    const arn = await writeCredentials(secrets(), { name: NAME, existing, value: VALUE, token: TOKEN }, rec);

    // Assess
    expect(arn).toBe(ARN);
    expect(secretsMock).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretId: ARN,
      SecretString: JSON.stringify(VALUE),
      ClientRequestToken: TOKEN,
    });
    expect(secretsMock).not.toHaveReceivedCommand(CreateSecretCommand);
    expect(rec.changes).toEqual([]);
  });

  it("puts its value into a secret a concurrent run created first", async () => {
    // Prepare
    secretsMock.on(CreateSecretCommand).rejects(awsError.secretExists());
    secretExists("{}");
    secretsMock.on(PutSecretValueCommand).resolves({ ARN });

    // Act
    const arn = await writeCredentials(
      secrets(),
      { name: NAME, existing: undefined, value: VALUE, token: TOKEN },
      recorder(),
    );

    // Assess
    expect(arn).toBe(ARN);
    expect(secretsMock).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretId: ARN,
      ClientRequestToken: TOKEN,
    });
  });

  it("fails with the transient ConcurrentModification when that secret cannot be read yet", async () => {
    // Prepare
    secretsMock.on(CreateSecretCommand).rejects(awsError.secretExists());
    secretsMock.on(DescribeSecretCommand).rejects(awsError.secretNotFound());

    // Act
    const error = await rejectionOf(
      writeCredentials(
        secrets(),
        { name: NAME, existing: undefined, value: VALUE, token: TOKEN },
        recorder(),
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ConcurrentModification");
    expect(error.message).toContain(NAME);
    expect(secretsMock).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("never puts the secret's content into an error message", async () => {
    // Prepare
    secretsMock.on(CreateSecretCommand).rejects(awsError.limitExceeded("too many secrets"));

    // Act
    const error = await rejectionOf(
      writeCredentials(
        secrets(),
        { name: NAME, existing: undefined, value: VALUE, token: TOKEN },
        recorder(),
      ),
    );

    // Assess
    expect(error.name).toBe("LimitExceeded");
    expect(error.message).not.toContain(VALUE.secretAccessKey);
    expect(error.message).not.toContain(VALUE.consolePassword);
  });
});

describe("the stack's KMS key and the readers-only policy", () => {
  const KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  const READERS = [
    "arn:aws:iam::111111111111:role/redis-cloud-byoc-prod-ensureUser-eu-west-1-lambdaRole",
    "arn:aws:iam::111111111111:role/support-readers",
  ];

  it("creates the secret under the configured key", async () => {
    // Prepare
    secretsMock.on(CreateSecretCommand).resolves({ ARN, Name: NAME });

    // Act
    await writeCredentials(
      secrets(),
      { name: NAME, existing: undefined, value: VALUE, token: TOKEN, kmsKeyId: KEY },
      recorder(),
    );

    // Assess
    expect(secretsMock).toHaveReceivedCommandWith(CreateSecretCommand, { KmsKeyId: KEY });
  });

  it("denies reading the value to every principal but the readers, and blocks a public policy", async () => {
    // Prepare
    secretsMock.on(GetResourcePolicyCommand).resolves({ ARN, Name: NAME });
    const rec = recorder();

    // Act
    await ensureReadersOnly(secrets(), { arn: ARN, adopted: false }, READERS, rec);

    // Assess
    const put = secretsMock.commandCalls(PutResourcePolicyCommand)[0]?.args[0].input;
    expect(put?.BlockPublicPolicy).toBe(true);
    const policy = JSON.parse(put?.ResourcePolicy ?? "{}");
    expect(policy).toEqual(readersOnlyPolicy(READERS));
    expect(policy.Statement[0]).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Action: "secretsmanager:GetSecretValue",
      Condition: { StringNotLike: { "aws:PrincipalArn": READERS } },
    });
    expect(rec.operations.map((o) => `${o.kind} ${o.operation}`)).toEqual([
      "read GetResourcePolicy",
      "change PutResourcePolicy",
    ]);
  });

  it("writes nothing when the policy is already there, in any order or encoding", async () => {
    // Prepare
    const same = readersOnlyPolicy([...READERS].reverse());
    secretsMock.on(GetResourcePolicyCommand).resolves({ ARN, ResourcePolicy: JSON.stringify(same) });
    const rec = recorder();

    // Act
    await ensureReadersOnly(secrets(), { arn: ARN, adopted: false }, READERS, rec);

    // Assess
    expect(secretsMock.commandCalls(PutResourcePolicyCommand)).toHaveLength(0);
    expect(rec.found).toEqual([`resource policy of secret ${ARN}`]);
  });

  it("restricts nothing, and calls nothing, when no reader is configured", async () => {
    // Act
    await ensureReadersOnly(secrets(), { arn: ARN, adopted: false }, [], recorder());

    // Assess
    expect(secretsMock.calls()).toHaveLength(0);
  });
});
