import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateLoginProfileCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DetachUserPolicyCommand,
  GetAccountPasswordPolicyCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
  type PasswordPolicy,
  UpdateLoginProfileCommand,
} from "@aws-sdk/client-iam";
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
import { ensureUser, handler, PLANNED_KEY } from "../../functions/ensure-user.ts";
import type { AccountCredentials } from "../../functions/lib/credentials-secret.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import type { ChangeRecorder, RegistryItem } from "../../functions/lib/registry.ts";
import { type Change, ChangeSchema, PlanSink, type StepInput } from "../../functions/lib/step.ts";
import {
  adoptingInput,
  arnIn,
  awsError,
  EXECUTION,
  HOME,
  lambdaContext,
  NO_REGISTRY,
  ourTags,
  ownedRegistry,
  REGISTRY_TABLE,
  rejectionOf,
  runningItem,
  stepInput,
  TARGET,
  type Tag,
  writeCommands,
  writesAtEachAdoption,
} from "../support/aws.ts";

const USER = "redislabs-user";
const USER_ARN = arnIn(TARGET, `user/${USER}`);
const USER_POLICY_ARN = arnIn(TARGET, "policy/RedislabsIAMUserRestrictedPolicy");
const SECRET_NAME = `redis-cloud/byoc/${TARGET}`;
const SECRET_ARN = `arn:aws:secretsmanager:${HOME.region}:${HOME.accountId}:secret:${SECRET_NAME}-AbCdEf`;
const SIGN_IN_URL = `https://${TARGET}.signin.aws.amazon.com/console`;
const STRICT_POLICY: PasswordPolicy = {
  MinimumPasswordLength: 48,
  RequireSymbols: true,
  RequireNumbers: true,
  RequireUppercaseCharacters: true,
  RequireLowercaseCharacters: true,
};

interface Key {
  id: string;
  secret: string;
}
const NEW_KEY: Key = { id: "AKIANEWKEY0000000001", secret: "newSecretAccessKey/ZZZZ9999zzzz8888YYYY77" };
const OTHER_NEW_KEY: Key = {
  id: "AKIANEWKEY0000000002",
  secret: "otherSecretAccessKey/QQQQ1111qqqq2222RRR3",
};
const OLD_KEY: Key = { id: "AKIAOLDKEY0000000001", secret: "oldSecretAccessKey/WWWW5555wwww6666XXXX44" };
const STORED_PASSWORD = "Stored-Console-Password-!aA1-0000";
const MANAGED_BY_ONLY: Tag[] = [{ Key: "ManagedBy", Value: "redis-cloud-byoc-onboarding" }];
/** Keys someone made by hand on a user of the same name. */
const HUMAN_KEY = "AKIAHUMAN00000000001";
const OTHER_HUMAN_KEY = "AKIAHUMAN00000000002";
const OTHER_POLICY_ARN = arnIn(TARGET, "policy/SomeoneElsesPolicy");
const READER_ARN = arnIn(HOME.accountId, "role/redis-cloud-byoc-test-register");

const iamMock = mockClient(IAMClient);
const secretsMock = mockClient(SecretsManagerClient);
const dynamoMock = mockClient(DynamoDBClient);

/** A complete secret value, as a successful earlier run stored it. */
function storedValue(overrides: Partial<AccountCredentials> = {}): Partial<AccountCredentials> {
  return {
    accountId: TARGET,
    accessKeyId: OLD_KEY.id,
    secretAccessKey: OLD_KEY.secret,
    consoleUsername: USER,
    consolePassword: STORED_PASSWORD,
    signInUrl: SIGN_IN_URL,
    ...overrides,
  };
}

interface AccountState {
  /** Tags of the existing user; absent: no user. */
  userTags?: Tag[];
  attached?: boolean;
  loginProfile?: boolean;
  keys?: string[];
  /** The secret's value; absent: no secret. */
  secret?: Partial<AccountCredentials>;
  secretTags?: Tag[];
  /** Absent: the account has no password policy. */
  passwordPolicy?: PasswordPolicy;
  newKey?: Key;
  /** Policies attached besides the user policy. */
  otherAttached?: string[];
  inline?: string[];
  /** The secret's resource policy; absent: none. */
  secretPolicy?: string;
}

const user = (tags: Tag[]) => ({
  Path: "/",
  UserName: USER,
  UserId: "AIDAEXAMPLEUSER",
  Arn: USER_ARN,
  CreateDate: new Date("2024-01-01T00:00:00Z"),
  Tags: tags,
});

function accountHas(state: AccountState) {
  if (state.userTags) iamMock.on(GetUserCommand, { UserName: USER }).resolves({ User: user(state.userTags) });
  else iamMock.on(GetUserCommand).rejects(awsError.noSuchEntity());
  iamMock.on(CreateUserCommand).resolves({ User: user(ourTags(EXECUTION)) });
  iamMock.on(ListAttachedUserPoliciesCommand, { UserName: USER }).resolves({
    AttachedPolicies: [
      ...(state.attached
        ? [{ PolicyName: "RedislabsIAMUserRestrictedPolicy", PolicyArn: USER_POLICY_ARN }]
        : []),
      ...(state.otherAttached ?? []).map((arn) => ({ PolicyArn: arn })),
    ],
  });
  iamMock.on(ListUserPoliciesCommand, { UserName: USER }).resolves({ PolicyNames: state.inline ?? [] });
  iamMock.on(AttachUserPolicyCommand).resolves({});
  iamMock.on(DetachUserPolicyCommand).resolves({});
  const profile = { LoginProfile: { UserName: USER, CreateDate: new Date("2024-01-01T00:00:00Z") } };
  if (state.loginProfile) iamMock.on(GetLoginProfileCommand, { UserName: USER }).resolves(profile);
  else iamMock.on(GetLoginProfileCommand).rejects(awsError.noSuchEntity());
  if (state.passwordPolicy) {
    iamMock.on(GetAccountPasswordPolicyCommand).resolves({ PasswordPolicy: state.passwordPolicy });
  } else {
    iamMock.on(GetAccountPasswordPolicyCommand).rejects(awsError.noSuchEntity("no password policy"));
  }
  iamMock.on(CreateLoginProfileCommand).resolves(profile);
  iamMock.on(UpdateLoginProfileCommand).resolves({});
  iamMock.on(ListAccessKeysCommand, { UserName: USER }).resolves({
    AccessKeyMetadata: (state.keys ?? []).map((id) => ({
      UserName: USER,
      AccessKeyId: id,
      Status: "Active",
    })),
  });
  iamMock.on(DeleteAccessKeyCommand).resolves({});
  const key = state.newKey ?? NEW_KEY;
  iamMock.on(CreateAccessKeyCommand).resolves({
    AccessKey: { UserName: USER, AccessKeyId: key.id, SecretAccessKey: key.secret, Status: "Active" },
  });

  if (state.secret) {
    secretsMock
      .on(DescribeSecretCommand, { SecretId: SECRET_NAME })
      .resolves({ ARN: SECRET_ARN, Name: SECRET_NAME, Tags: state.secretTags ?? ourTags("an-earlier-run") });
    secretsMock.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
      ARN: SECRET_ARN,
      Name: SECRET_NAME,
      VersionId: "v-old",
      SecretString: JSON.stringify(state.secret),
    });
  } else {
    secretsMock.on(DescribeSecretCommand).rejects(awsError.secretNotFound());
  }
  secretsMock.on(CreateSecretCommand).resolves({ ARN: SECRET_ARN, Name: SECRET_NAME, VersionId: "v-1" });
  secretsMock.on(PutSecretValueCommand).resolves({ ARN: SECRET_ARN, VersionId: "v-2" });
  secretsMock
    .on(GetResourcePolicyCommand)
    .resolves(
      state.secretPolicy ? { ARN: SECRET_ARN, ResourcePolicy: state.secretPolicy } : { ARN: SECRET_ARN },
    );
  secretsMock.on(PutResourcePolicyCommand).resolves({ ARN: SECRET_ARN });
}

const act = (
  registry: ChangeRecorder = NO_REGISTRY,
  input: StepInput = stepInput(),
  options: { plan?: PlanSink; readers?: string[] } = {},
) =>
  ensureUser(input, {
    iam: new IAMClient({}),
    secrets: new SecretsManagerClient({}),
    home: HOME,
    config: {
      secretNamePrefix: "redis-cloud/byoc/",
      ...(options.readers ? { secretReaderArns: options.readers } : {}),
    },
    registry,
    ...(options.plan ? { plan: options.plan } : {}),
  });

const accessKey = (accessKeyId: string): Change => ({ type: "AccessKey", user: USER, accessKeyId });

/**
 * The registry of an account an earlier run onboarded: it made the user, its password, these keys
 * and the secret (`extra`: what else the item says, the key Redis uses).
 */
const earlierRun = (keys: string[], extra: Partial<RegistryItem> = {}) =>
  ownedRegistry(
    [
      { type: "User", name: USER },
      { type: "LoginProfile", user: USER },
      ...keys.map(accessKey),
      { type: "Secret", arn: SECRET_ARN },
    ],
    extra,
  );

/** The secret write that was sent (CreateSecret or PutSecretValue). */
function writtenSecret() {
  const input =
    secretsMock.commandCalls(PutSecretValueCommand)[0]?.args[0].input ??
    secretsMock.commandCalls(CreateSecretCommand)[0]?.args[0].input;
  return {
    value: JSON.parse(input?.SecretString ?? "null") as Record<string, unknown>,
    token: input?.ClientRequestToken,
  };
}

/** The console password that was set (CreateLoginProfile or UpdateLoginProfile). */
function setPassword(): string {
  const input =
    iamMock.commandCalls(CreateLoginProfileCommand)[0]?.args[0].input ??
    iamMock.commandCalls(UpdateLoginProfileCommand)[0]?.args[0].input;
  return input?.Password ?? "";
}

const keyCommands = () =>
  writeCommands(iamMock).filter(
    (name) => name === "DeleteAccessKeyCommand" || name === "CreateAccessKeyCommand",
  );

beforeEach(() => {
  iamMock.reset();
  secretsMock.reset();
  dynamoMock.reset();
  dynamoMock.on(GetItemCommand).resolves({ Item: runningItem() });
  dynamoMock.on(PutItemCommand).resolves({});
});

describe("ensureUser in a fresh account", () => {
  it("creates the user, its policy attachment, password and key, and stores them in one secret", async () => {
    // Prepare
    accountHas({ passwordPolicy: STRICT_POLICY });

    // Act
    const result = await act();

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(CreateUserCommand, {
      UserName: USER,
      Tags: ourTags(EXECUTION),
    });
    expect(iamMock).toHaveReceivedCommandWith(AttachUserPolicyCommand, {
      UserName: USER,
      PolicyArn: USER_POLICY_ARN,
    });
    expect(iamMock).toHaveReceivedCommandWith(CreateLoginProfileCommand, {
      UserName: USER,
      PasswordResetRequired: false,
    });
    expect(iamMock).toHaveReceivedCommandWith(CreateAccessKeyCommand, { UserName: USER });
    const password = setPassword();
    expect(password.length).toBeGreaterThanOrEqual(48);
    expect(password).toMatch(/[A-Z]/);
    expect(password).toMatch(/[a-z]/);
    expect(password).toMatch(/[0-9]/);
    expect(password).toMatch(/[^A-Za-z0-9]/);
    expect(secretsMock).toHaveReceivedCommandWith(CreateSecretCommand, {
      Name: SECRET_NAME,
      Tags: ourTags(EXECUTION),
    });
    const written = writtenSecret();
    expect(written.value).toEqual({
      accountId: TARGET,
      accessKeyId: NEW_KEY.id,
      secretAccessKey: NEW_KEY.secret,
      consoleUsername: USER,
      consolePassword: password,
      signInUrl: SIGN_IN_URL,
    });
    expect(written.token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(result).toMatchObject({
      userName: USER,
      userArn: USER_ARN,
      secretArn: SECRET_ARN,
      accessKeyId: NEW_KEY.id,
    });
    expect(result.changes).toEqual([
      { type: "User", name: USER },
      { type: "UserPolicyAttachment", user: USER, policyArn: USER_POLICY_ARN },
      { type: "LoginProfile", user: USER },
      { type: "AccessKey", user: USER, accessKeyId: NEW_KEY.id },
      { type: "Secret", arn: SECRET_ARN },
    ]);
  });

  it("never answers the secret access key or the console password", async () => {
    // Prepare
    accountHas({ passwordPolicy: STRICT_POLICY });

    // Act
    const result = await act();

    // Assess
    const text = JSON.stringify(result);
    expect(text).not.toContain(NEW_KEY.secret);
    expect(text).not.toContain(setPassword());
    expect(Object.keys(result).sort()).toEqual([
      "accessKeyId",
      "changes",
      "found",
      "secretArn",
      "userArn",
      "userName",
    ]);
  });

  it("uses IAM's default password rules when the account has no password policy", async () => {
    // Prepare
    accountHas({});

    // Act
    await act();

    // Assess
    expect(iamMock).toHaveReceivedCommand(GetAccountPasswordPolicyCommand);
    expect(setPassword().length).toBeGreaterThanOrEqual(8);
    expect(writtenSecret().value.consolePassword).toBe(setPassword());
  });

  it("sends the same ClientRequestToken for the same inputs and another one for another key", async () => {
    // Prepare
    const tokenOfFreshRun = async (newKey: Key) => {
      iamMock.reset();
      secretsMock.reset();
      accountHas({ newKey });
      await act();
      return writtenSecret().token;
    };

    // Act
    const first = await tokenOfFreshRun(NEW_KEY);
    const again = await tokenOfFreshRun(NEW_KEY);
    const otherKey = await tokenOfFreshRun(OTHER_NEW_KEY);

    // Assess
    expect(first).toBeDefined();
    expect(again).toBe(first);
    expect(otherKey).toBeDefined();
    expect(otherKey).not.toBe(first);
  });

  it("stores its value as the next version when a concurrent run creates the secret first", async () => {
    // Prepare
    accountHas({});
    secretsMock
      .on(DescribeSecretCommand)
      .rejectsOnce(awsError.secretNotFound())
      .resolves({ ARN: SECRET_ARN, Name: SECRET_NAME, Tags: ourTags("a-concurrent-run") });
    secretsMock.on(GetSecretValueCommand).resolves({ ARN: SECRET_ARN, SecretString: "{}" });
    secretsMock.on(CreateSecretCommand).rejects(awsError.secretExists());

    // Act
    const result = await act();

    // Assess
    const created = secretsMock.commandCalls(CreateSecretCommand)[0]?.args[0].input;
    expect(secretsMock).toHaveReceivedCommandTimes(PutSecretValueCommand, 1);
    expect(secretsMock).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretId: SECRET_ARN,
      SecretString: created?.SecretString,
      ClientRequestToken: created?.ClientRequestToken,
    });
    expect(result.secretArn).toBe(SECRET_ARN);
  });
});

describe("ensureUser on an account onboarded before", () => {
  it("keeps the stored key and writes nothing when the secret's key is still on the user", async () => {
    // Prepare
    accountHas({
      userTags: ourTags("an-earlier-run"),
      attached: true,
      loginProfile: true,
      keys: [OLD_KEY.id],
      secret: storedValue(),
    });

    // Act
    const result = await act(earlierRun([OLD_KEY.id], { accessKeyId: OLD_KEY.id }).registry);

    // Assess
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    expect(writeCommands(iamMock)).toEqual([]);
    expect(writeCommands(secretsMock)).toEqual([]);
    expect(result.accessKeyId).toBe(OLD_KEY.id);
    expect(result.secretArn).toBe(SECRET_ARN);
    expect(result.changes).toEqual([]);
    expect([...result.found].sort()).toEqual(
      [
        `user ${USER}`,
        `attachment ${USER_POLICY_ARN} to user ${USER}`,
        `login profile of ${USER}`,
        `access key ${OLD_KEY.id}`,
        `secret ${SECRET_ARN}`,
      ].sort(),
    );
  });

  it("deletes a key it made that the secret does not hold and Redis does not use before creating one", async () => {
    // Prepare
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: true,
      loginProfile: true,
      keys: ["AKIAORPHAN0000000001"],
      secret: storedValue(),
    });

    // Act
    const result = await act(earlierRun(["AKIAORPHAN0000000001"]).registry);

    // Assess
    expect(keyCommands()).toEqual(["DeleteAccessKeyCommand", "CreateAccessKeyCommand"]);
    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: "AKIAORPHAN0000000001",
    });
    expect(secretsMock).toHaveReceivedCommandWith(PutSecretValueCommand, { SecretId: SECRET_ARN });
    expect(writtenSecret().value).toMatchObject({ accessKeyId: NEW_KEY.id, secretAccessKey: NEW_KEY.secret });
    expect(result.accessKeyId).toBe(NEW_KEY.id);
  });

  it("deletes both keys it made that Redis does not use, then creates one", async () => {
    // Prepare
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: true,
      keys: ["AKIAORPHAN0000000001", "AKIAORPHAN0000000002"],
    });

    // Act
    await act(earlierRun(["AKIAORPHAN0000000001", "AKIAORPHAN0000000002"]).registry);

    // Assess
    expect(keyCommands()).toEqual([
      "DeleteAccessKeyCommand",
      "DeleteAccessKeyCommand",
      "CreateAccessKeyCommand",
    ]);
    const deleted = iamMock
      .commandCalls(DeleteAccessKeyCommand)
      .map((call) => call.args[0].input.AccessKeyId);
    expect(deleted.sort()).toEqual(["AKIAORPHAN0000000001", "AKIAORPHAN0000000002"]);
    expect(iamMock).toHaveReceivedCommandTimes(CreateAccessKeyCommand, 1);
  });

  it("deletes no key of a user tagged ManagedBy that the registry does not say it made", async () => {
    // Prepare: the tag alone, which anyone can set, makes nothing the product's.
    accountHas({ userTags: MANAGED_BY_ONLY, attached: true, keys: [HUMAN_KEY] });
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(registry));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain(`it has access keys the product did not make: ${HUMAN_KEY}`);
    expect(writeCommands(iamMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("fails with LimitExceeded and deletes no key when its user holds Redis's key and one it did not make", async () => {
    // Prepare: the secret was lost; its key is the one Redis uses.
    accountHas({ userTags: MANAGED_BY_ONLY, attached: true, keys: [OLD_KEY.id, HUMAN_KEY] });

    // Act
    const error = await rejectionOf(act(earlierRun([OLD_KEY.id], { accessKeyId: OLD_KEY.id }).registry));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("LimitExceeded");
    expect(error.message).toContain("EnsureUser");
    expect(error.message).toContain(`${OLD_KEY.id} (used by Redis Cloud)`);
    expect(error.message).toContain(`${HUMAN_KEY} (not made by this product)`);
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    expect(writeCommands(secretsMock)).toEqual([]);
  });

  it("changes no policy and no console password of its user when no key can be made", async () => {
    // Prepare
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: false,
      loginProfile: true,
      keys: [OLD_KEY.id, HUMAN_KEY],
    });

    // Act
    const error = await rejectionOf(act(earlierRun([OLD_KEY.id], { accessKeyId: OLD_KEY.id }).registry));

    // Assess
    expect(error.name).toBe("LimitExceeded");
    expect(writeCommands(iamMock)).toEqual([]);
    expect(iamMock).not.toHaveReceivedCommand(GetAccountPasswordPolicyCommand);
  });

  it("keeps the key Redis uses and creates another when the secret is lost, resetting the password it made", async () => {
    // Prepare: user and key K1 the product's, the registry says Redis uses K1, no secret.
    accountHas({ userTags: MANAGED_BY_ONLY, attached: true, loginProfile: true, keys: [OLD_KEY.id] });

    // Act
    const result = await act(earlierRun([OLD_KEY.id], { accessKeyId: OLD_KEY.id }).registry);

    // Assess
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(keyCommands()).toEqual(["CreateAccessKeyCommand"]);
    expect(iamMock).toHaveReceivedCommandWith(UpdateLoginProfileCommand, {
      UserName: USER,
      PasswordResetRequired: false,
    });
    expect(writtenSecret().value).toMatchObject({ accessKeyId: NEW_KEY.id, consolePassword: setPassword() });
    expect(result.accessKeyId).toBe(NEW_KEY.id);
    // Its own user's password: nothing was taken over, so nothing is recorded as unrestorable.
    expect(result.changes).toEqual([accessKey(NEW_KEY.id), { type: "Secret", arn: SECRET_ARN }]);
  });

  it("deletes its orphaned key but keeps the one Redis uses", async () => {
    // Prepare
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: true,
      loginProfile: true,
      keys: [OLD_KEY.id, "AKIAORPHAN0000000002"],
    });

    // Act
    const result = await act(
      earlierRun([OLD_KEY.id, "AKIAORPHAN0000000002"], { accessKeyId: OLD_KEY.id }).registry,
    );

    // Assess
    expect(keyCommands()).toEqual(["DeleteAccessKeyCommand", "CreateAccessKeyCommand"]);
    expect(iamMock).toHaveReceivedCommandTimes(DeleteAccessKeyCommand, 1);
    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: "AKIAORPHAN0000000002",
    });
    expect(result.accessKeyId).toBe(NEW_KEY.id);
  });

  it("keeps the key of the registration it asked Redis for", async () => {
    // Prepare: the registration names the key; the item's own key is not set yet.
    accountHas({ userTags: MANAGED_BY_ONLY, attached: true, loginProfile: true, keys: [OLD_KEY.id] });
    const registration = {
      name: "payments-prod",
      accessKeyId: OLD_KEY.id,
      execution: "onboard-earlier",
      requestedAt: "2026-01-01T00:00:00.000Z",
      taskId: "task-1",
      origin: "created" as const,
    };

    // Act
    await act(earlierRun([OLD_KEY.id], { registration }).registry);

    // Assess
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(keyCommands()).toEqual(["CreateAccessKeyCommand"]);
  });

  it("detaches another policy from its own user, recording the detachment, without adopting anything", async () => {
    // Prepare
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: true,
      otherAttached: [OTHER_POLICY_ARN],
      loginProfile: true,
      keys: [OLD_KEY.id],
      secret: storedValue(),
    });
    const { registry, recorded } = earlierRun([OLD_KEY.id], { accessKeyId: OLD_KEY.id });

    // Act
    const result = await act(registry);

    // Assess
    expect(writeCommands(iamMock)).toEqual(["DetachUserPolicyCommand"]);
    expect(recorded).toEqual([
      {
        change: { type: "UserPolicyDetachment", user: USER, policyArn: OTHER_POLICY_ARN },
        origin: "created",
      },
    ]);
    expect(result.adopted).toBeUndefined();
  });

  it("sets and stores a new password when the login profile is unknown to the secret", async () => {
    // Prepare
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: true,
      loginProfile: true,
      keys: [OLD_KEY.id],
      secret: storedValue({ consolePassword: undefined }),
      passwordPolicy: STRICT_POLICY,
    });

    // Act
    const result = await act(earlierRun([OLD_KEY.id], { accessKeyId: OLD_KEY.id }).registry);

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(UpdateLoginProfileCommand, {
      UserName: USER,
      PasswordResetRequired: false,
    });
    expect(iamMock).not.toHaveReceivedCommand(CreateLoginProfileCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    const password = setPassword();
    expect(password.length).toBeGreaterThanOrEqual(48);
    expect(writtenSecret().value).toMatchObject({ consolePassword: password, accessKeyId: OLD_KEY.id });
    expect(JSON.stringify(result)).not.toContain(password);
  });

  it("leaves the login profile alone when the secret holds its password", async () => {
    // Prepare: the key is gone, so the secret is rewritten; the password must survive.
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: true,
      loginProfile: true,
      keys: [],
      secret: storedValue(),
    });

    // Act
    const result = await act(earlierRun([]).registry);

    // Assess
    expect(iamMock).not.toHaveReceivedCommand(UpdateLoginProfileCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateLoginProfileCommand);
    expect(iamMock).not.toHaveReceivedCommand(GetAccountPasswordPolicyCommand);
    expect(writtenSecret().value).toMatchObject({
      consolePassword: STORED_PASSWORD,
      accessKeyId: NEW_KEY.id,
    });
    expect(result.found).toContain(`login profile of ${USER}`);
  });

  it("keeps what else the secret holds when it rewrites it", async () => {
    // Prepare
    accountHas({
      userTags: MANAGED_BY_ONLY,
      attached: true,
      loginProfile: true,
      keys: [],
      secret: storedValue({ cloudAccountId: 4242 }),
    });

    // Act
    await act(earlierRun([]).registry);

    // Assess
    expect(writtenSecret().value).toMatchObject({ cloudAccountId: 4242, accessKeyId: NEW_KEY.id });
  });

  it("reports a user and a secret left by an earlier attempt of this execution as changes", async () => {
    // Prepare
    accountHas({
      userTags: ourTags(EXECUTION),
      attached: true,
      loginProfile: true,
      keys: [OLD_KEY.id],
      secret: storedValue(),
      secretTags: ourTags(EXECUTION),
    });

    // Act
    const result = await act();

    // Assess
    expect(result.changes).toEqual([
      { type: "Secret", arn: SECRET_ARN },
      { type: "User", name: USER },
    ]);
    expect(result.found).not.toContain(`user ${USER}`);
  });
});

/** A redislabs-user made by hand: untagged, with its own key, password and another policy. */
const SOMEONE_ELSES_USER = {
  userTags: [],
  attached: true,
  otherAttached: [OTHER_POLICY_ARN],
  loginProfile: true,
  keys: [HUMAN_KEY],
};

describe("ensureUser on a user or secret it did not make", () => {
  it("fails with ForeignResource naming the user and what differs, writing nothing", async () => {
    // Prepare
    accountHas(SOMEONE_ELSES_USER);
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(registry));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain(
      `EnsureUser: found resources this product did not make that differ from what Redis requires: user ${USER} (it has access keys the product did not make: ${HUMAN_KEY}; it has a console password the product did not set; it has other policies attached: ${OTHER_POLICY_ARN})`,
    );
    expect(writeCommands(iamMock)).toEqual([]);
    expect(writeCommands(secretsMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("adopts it when the input says so: its state before recorded first, then its other policy detached, its password reset", async () => {
    // Prepare
    accountHas(SOMEONE_ELSES_USER);
    const { registry, recorded } = ownedRegistry();
    const writesBefore = writesAtEachAdoption(registry, iamMock, secretsMock);

    // Act
    const result = await act(registry, adoptingInput());

    // Assess
    expect(writesBefore).toEqual([[]]);
    expect(recorded[0]).toEqual({
      change: { type: "User", name: USER },
      origin: "adopted",
      prior: JSON.stringify({
        accessKeyIds: [HUMAN_KEY],
        loginProfile: true,
        attached: [USER_POLICY_ARN, OTHER_POLICY_ARN],
      }),
    });
    expect(writeCommands(iamMock)).toEqual([
      "DetachUserPolicyCommand",
      "UpdateLoginProfileCommand",
      "CreateAccessKeyCommand",
    ]);
    expect(iamMock).toHaveReceivedCommandWith(DetachUserPolicyCommand, {
      UserName: USER,
      PolicyArn: OTHER_POLICY_ARN,
    });
    // Someone's key is never deleted: the product's goes next to it.
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(result.changes).toEqual([
      { type: "UserPolicyDetachment", user: USER, policyArn: OTHER_POLICY_ARN },
      { type: "LoginProfilePassword", user: USER },
      accessKey(NEW_KEY.id),
      { type: "Secret", arn: SECRET_ARN },
    ]);
    expect(recorded.slice(1).map((entry) => entry.change)).toEqual(result.changes);
    expect(result.adopted).toEqual([`user ${USER}`]);
  });

  it("refuses, even with adopt, a user it did not make that holds IAM's two access keys", async () => {
    // Prepare
    accountHas({ userTags: [], attached: false, keys: [HUMAN_KEY, OTHER_HUMAN_KEY] });
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(registry, adoptingInput()));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain("it has IAM's 2 access keys, and one would have to be deleted for good");
    expect(error.message).toContain("change these by hand");
    expect(writeCommands(iamMock)).toEqual([]);
    expect(writeCommands(secretsMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("refuses, even with adopt, a user it did not make with inline policies", async () => {
    // Prepare
    accountHas({ userTags: [], attached: true, keys: [HUMAN_KEY], inline: ["legacy-s3"] });
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(registry, adoptingInput()));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain("it has inline policies (legacy-s3), which would be lost");
    expect(writeCommands(iamMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("uses a bare user it did not make without adopting it, recording only what it adds", async () => {
    // Prepare: no key, no password, only the user policy: exactly what Redis requires so far.
    accountHas({ userTags: [], attached: true });
    const { registry, recorded } = ownedRegistry();

    // Act
    const result = await act(registry);

    // Assess
    expect(recorded.filter((entry) => entry.origin === "adopted")).toEqual([]);
    expect(result.found).toEqual(
      expect.arrayContaining([`user ${USER}`, `attachment ${USER_POLICY_ARN} to user ${USER}`]),
    );
    expect(result.changes).not.toContainEqual({ type: "User", name: USER });
    expect(writeCommands(iamMock)).toEqual(["CreateLoginProfileCommand", "CreateAccessKeyCommand"]);
    expect(result.adopted).toBeUndefined();
  });

  it("fails with ForeignResource naming a secret it did not make, writing nothing", async () => {
    // Prepare
    accountHas({ secret: { note: "kept by the platform team" } as never, secretTags: [] });
    const { registry, recorded } = ownedRegistry();

    // Act
    const error = await rejectionOf(act(registry));

    // Assess
    expect(error.name).toBe("ForeignResource");
    expect(error.message).toContain(
      `secret ${SECRET_ARN} (this deployment did not make it; its value is not this account's credentials (fields: note))`,
    );
    expect(writeCommands(iamMock)).toEqual([]);
    expect(writeCommands(secretsMock)).toEqual([]);
    expect(recorded).toEqual([]);
  });

  it("adopts a secret it did not make: its current version and resource policy recorded, then rewritten", async () => {
    // Prepare
    const previousPolicy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { AWS: "*" }, Action: "secretsmanager:DescribeSecret", Resource: "*" },
      ],
    });
    accountHas({ secret: storedValue(), secretTags: [], secretPolicy: previousPolicy });
    const { registry, recorded } = ownedRegistry();
    const writesBefore = writesAtEachAdoption(registry, iamMock, secretsMock);

    // Act
    const result = await act(registry, adoptingInput(), { readers: [READER_ARN] });

    // Assess
    expect(writesBefore).toEqual([[]]);
    expect(recorded[0]).toEqual({
      change: { type: "Secret", arn: SECRET_ARN },
      origin: "adopted",
      // Its policy too: an attempt retried after its own writes gives back the same.
      prior: JSON.stringify({ versionId: "v-old", resourcePolicy: previousPolicy }),
    });
    expect(writeCommands(secretsMock)).toEqual(["PutSecretValueCommand", "PutResourcePolicyCommand"]);
    // A value it did not write is not trusted: a new key and a new password are stored.
    expect(writtenSecret().value).toMatchObject({ accessKeyId: NEW_KEY.id, consolePassword: setPassword() });
    expect(result.changes).toEqual(
      expect.arrayContaining([
        { type: "SecretValue", arn: SECRET_ARN, previousVersionId: "v-old" },
        { type: "SecretPolicy", arn: SECRET_ARN, previousPolicy },
      ]),
    );
    expect(result.changes).not.toContainEqual({ type: "Secret", arn: SECRET_ARN });
    expect(result.adopted).toEqual([`secret ${SECRET_ARN}`]);
  });

  it("adopts a secret it did not make that holds no value yet, recording only what can be given back", async () => {
    // Prepare: a secret made without a value; the registry refuses a change it cannot parse.
    accountHas({ secret: storedValue(), secretTags: [] });
    secretsMock.on(GetSecretValueCommand).rejects(awsError.secretNotFound("no value labelled AWSCURRENT"));
    const { registry, recorded } = ownedRegistry();
    const record = registry.recordChange.bind(registry);
    registry.recordChange = async (account, execution, change) =>
      record(account, execution, ChangeSchema.parse(change));

    // Act
    const result = await act(registry, adoptingInput());

    // Assess
    expect(writeCommands(secretsMock)).toEqual(["PutSecretValueCommand"]);
    expect(recorded[0]).toMatchObject({ change: { type: "Secret", arn: SECRET_ARN }, origin: "adopted" });
    expect(result.changes.filter((change) => change.type === "SecretValue")).toEqual([]);
  });

  it("records that an adopted secret had no resource policy", async () => {
    // Prepare
    accountHas({ secret: storedValue(), secretTags: [] });

    // Act
    const result = await act(ownedRegistry().registry, adoptingInput(), { readers: [READER_ARN] });

    // Assess
    expect(result.changes).toContainEqual({ type: "SecretPolicy", arn: SECRET_ARN });
  });
});

describe("ensureUser in a plan", () => {
  it("sends no write and lists the writes a run makes in a fresh account, with no key or password", async () => {
    // Prepare
    accountHas({});
    await act();
    const made = [...writeCommands(iamMock), ...writeCommands(secretsMock)].map((name) =>
      name.replace(/Command$/, ""),
    );
    iamMock.reset();
    secretsMock.reset();
    accountHas({});
    const plan = new PlanSink();

    // Act
    const result = await act(NO_REGISTRY, stepInput(), { plan });

    // Assess
    expect(made).toHaveLength(5);
    expect(writeCommands(iamMock)).toEqual([]);
    expect(writeCommands(secretsMock)).toEqual([]);
    expect(plan.writes.map((write) => write.operation).sort()).toEqual([...made].sort());
    expect(result.accessKeyId).toBe(PLANNED_KEY);
    expect(JSON.stringify(plan)).not.toContain(NEW_KEY.secret);
  });

  it("lists a foreign user as a finding and writes nothing", async () => {
    // Prepare
    accountHas({ userTags: [], attached: true, keys: [HUMAN_KEY] });
    const plan = new PlanSink();

    // Act
    await act(NO_REGISTRY, stepInput(), { plan });

    // Assess
    expect(writeCommands(iamMock)).toEqual([]);
    expect(writeCommands(secretsMock)).toEqual([]);
    expect(plan.findings.map((finding) => finding.resource)).toEqual([`user ${USER}`]);
    expect(plan.writes.map((write) => write.operation)).toContain("CreateAccessKey");
  });
});

describe("ensureUser races", () => {
  // Known defect: a lost CreateLoginProfile race is retried without bound (every other create of
  // the steps gives up after one re-read with ConcurrentModification). Remove `.fails` once fixed.
  it("gives up a login profile race it keeps losing after one re-read", async () => {
    // Prepare: IAM says the profile exists on create but not yet on read, three times running.
    accountHas({});
    iamMock
      .on(CreateLoginProfileCommand)
      .rejectsOnce(awsError.alreadyExists())
      .rejectsOnce(awsError.alreadyExists())
      .rejectsOnce(awsError.alreadyExists())
      .resolves({ LoginProfile: { UserName: USER, CreateDate: new Date() } });

    // Act
    await act().catch((error: unknown) => error);

    // Assess
    expect(iamMock.commandCalls(CreateLoginProfileCommand).length).toBeLessThanOrEqual(2);
  });
});

describe("ensure-user handler", () => {
  it("answers the secret's ARN and the key id, never the key", async () => {
    // Prepare
    accountHas({});

    // Act
    const result = await handler(stepInput(), lambdaContext(TARGET));

    // Assess
    expect(result).toMatchObject({ secretArn: SECRET_ARN, accessKeyId: NEW_KEY.id });
    expect(JSON.stringify(result)).not.toContain(NEW_KEY.secret);
    expect(secretsMock).toHaveReceivedCommandWith(DescribeSecretCommand, { SecretId: SECRET_NAME });
    // Each change went to the account registry as it was made, the key's id and never its secret.
    expect(dynamoMock).toHaveReceivedCommandWith(PutItemCommand, { TableName: REGISTRY_TABLE });
    const written = JSON.stringify(dynamoMock.commandCalls(PutItemCommand).map((call) => call.args[0].input));
    expect(written).toContain(NEW_KEY.id);
    expect(written).not.toContain(NEW_KEY.secret);
  });
});

/** A registry saying an earlier attempt of this run adopted `change`, finding it as `prior`. */
function adoptedEarlierThisRun(change: Change, prior: object) {
  return ownedRegistry([], {
    resources: [
      {
        change,
        execution: EXECUTION,
        origin: "adopted",
        recordedAt: "2026-01-01T00:00:01.000Z",
        prior: JSON.stringify(prior),
      },
    ],
  }).registry;
}

describe("ensureUser retried after an attempt that adopted the secret", () => {
  it("gives back the adoption's version and policy, not the ones its earlier attempt wrote", async () => {
    // Prepare: the earlier attempt adopted the secret and rewrote it (v-new, our policy).
    accountHas({ secret: storedValue(), secretTags: [], secretPolicy: "{}" });
    const registry = adoptedEarlierThisRun(
      { type: "Secret", arn: SECRET_ARN },
      { versionId: "v-before", resourcePolicy: '{"Version":"2012-10-17"}' },
    );

    // Act
    const result = await act(registry, adoptingInput(), { readers: [READER_ARN] });

    // Assess
    expect(result.changes).toEqual(
      expect.arrayContaining([
        { type: "SecretValue", arn: SECRET_ARN, previousVersionId: "v-before" },
        { type: "SecretPolicy", arn: SECRET_ARN, previousPolicy: '{"Version":"2012-10-17"}' },
      ]),
    );
    expect(result.adopted).toBeUndefined();
  });
});

describe("ensureUser retried after an attempt that adopted the user", () => {
  it("knows the profile and key the user had not when adopted as this run's: records the one, deletes the other", async () => {
    // Prepare: adopted with one key of its own and no password; since then a profile and a key
    // (OLD_KEY) appeared whose records were lost with the attempt that made them.
    accountHas({ userTags: [], attached: true, loginProfile: true, keys: [HUMAN_KEY, OLD_KEY.id] });
    const registry = adoptedEarlierThisRun(
      { type: "User", name: USER },
      { accessKeyIds: [HUMAN_KEY], loginProfile: false, attached: [] },
    );

    // Act
    const result = await act(registry, adoptingInput());

    // Assess
    expect(result.changes).toContainEqual({ type: "LoginProfile", user: USER });
    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: OLD_KEY.id,
    });
    expect(iamMock).not.toHaveReceivedCommandWith(DeleteAccessKeyCommand, {
      UserName: USER,
      AccessKeyId: HUMAN_KEY,
    });
  });
});
