import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetRoleCommand,
  GetUserCommand,
  IAMClient,
  RemoveRoleFromInstanceProfileCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import {
  DeleteResourcePolicyCommand,
  DescribeSecretCommand,
  PutResourcePolicyCommand,
  SecretsManagerClient,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RegistryEntry, type RegistryItem, toItem } from "../../functions/lib/registry.ts";
import type { Change } from "../../functions/lib/step.ts";
import { type RollbackDeps, rollback } from "../../functions/rollback.ts";
import { failableState, failingAt } from "../../local/cli/fail-at.ts";
import {
  HOME,
  type LocalEnvironment,
  REGISTRY_TABLE,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import nodeTrust from "../../policies/redislabs-cluster-node-role.trust.json" with { type: "json" };
import {
  arnIn,
  awsError,
  EXECUTION,
  encoded,
  FOREIGN_TAGS,
  registryItemOwning,
  rejectionOf,
  HOME as STEP_HOME,
  stepInput,
  writeCommands,
} from "../support/aws.ts";

/*
 * The rollback invoked directly, as anyone allowed to invoke its function could: whatever the
 * input claims, it undoes only what the registry recorded for the account's running execution,
 * and only while each resource is still that execution's. A crafted invocation changes nothing.
 */

const TARGET = "222222222222";
const ORG_ROLE = "OrganizationAccountAccessRole";
const FOREIGN_ROLE = "payments-admin";
const OPEN_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { AWS: "arn:aws:iam::444455556666:root" }, Action: "sts:AssumeRole" },
  ],
});
const target = { accountId: TARGET, roleName: ORG_ROLE, accountName: "" };

let env: LocalEnvironment;
let cloudAccountId: number;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  // Someone else's role in the account, besides the access role the account was made with.
  const iam = await env.runtime.clients.iam();
  await iam.send(new CreateRoleCommand({ RoleName: FOREIGN_ROLE, AssumeRolePolicyDocument: OPEN_TRUST }));
  // A run that failed and was rolled back, then one that onboarded the account.
  const failed = await env.run(
    { accountId: TARGET },
    {
      executionName: "run-failed",
      ...failingAt(failableState("EnsureConsoleRole"), { runs: env.runs, services: env.services }),
    },
  );
  expect(failed.status).toBe("FAILED");
  const ok = await env.run({ accountId: TARGET }, { executionName: "run-ok" });
  expect(ok.status).toBe("SUCCEEDED");
  cloudAccountId = (ok.output as { cloudAccountId: number }).cloudAccountId;
});
afterEach(() => env.close());

/** Everything that could be changed: every account's IAM and secrets, the tables, Redis's accounts. */
const world = () =>
  JSON.stringify({ aws: env.aws.snapshot({ tables: true }), redis: [...env.redis.state.accounts.entries()] });

const invoke = (event: unknown) =>
  env.runs.rollback?.(event, env.runtime) as Promise<Record<string, unknown>>;

/** A made-up change list naming foreign roles, the access role and its trust. */
const CRAFTED: Change[] = [
  { type: "Role", name: FOREIGN_ROLE },
  { type: "Role", name: ORG_ROLE },
  { type: "TrustPolicy", role: ORG_ROLE, previousDocument: OPEN_TRUST },
  { type: "RolePolicyAttachment", role: ORG_ROLE, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" },
  { type: "User", name: "redislabs-user" },
  { type: "Role", name: "redislabs-role" },
];

describe("a crafted rollback invocation", () => {
  it("is refused when it hands the rollback a change list: the rollback takes none", async () => {
    const before = world();
    const error = await rejectionOf(
      invoke({ target, execution: "run-ok", steps: { user: { changes: CRAFTED } } }),
    );
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toContain("steps");
    expect(world()).toBe(before);
  });

  it.each([
    ["the execution that onboarded the account", "run-ok"],
    ["an execution that ended long ago, with records of its own", "run-failed"],
    ["an execution that never ran", "evil-run"],
  ])("undoes nothing for %s, not even the cloud account it names", async (_case, execution) => {
    const before = world();

    const result = await invoke({ target, execution });
    // A state naming a cloud account as this run's is refused: the rollback takes none.
    const registration = { reused: false, cloudAccountId };
    const error = await rejectionOf(invoke({ target, execution, state: { registration } }));

    expect(result).toMatchObject({ undone: [], leftBehind: [], refused: expect.stringContaining(execution) });
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toContain("state");
    expect(world()).toBe(before);
  });

  it("deletes no cloud account at Redis for the running execution when the registry's registration is not its own", async () => {
    // The registry made to name the crafted execution as running; its registration is run-ok's,
    // then one the crafted execution found.
    const dynamodb = env.aws.account(HOME.accountId).dynamodb;
    const current = registryItemOf(dynamodb, TARGET);
    const running = { ...current, status: "onboarding", lastExecution: "evil-run", lastOutcome: "running" };
    const found = { ...current?.registration, execution: "evil-run", origin: "found" };
    const before = world();

    dynamodb.putItem({ TableName: REGISTRY_TABLE, Item: toItem(running) as never });
    const other = await invoke({ target, execution: "evil-run" });
    dynamodb.putItem({
      TableName: REGISTRY_TABLE,
      Item: toItem({ ...running, registration: found }) as never,
    });
    const notMade = await invoke({ target, execution: "evil-run" });

    expect(current?.registration).toMatchObject({ cloudAccountId, execution: "run-ok" });
    expect(other.undone).toEqual([]);
    expect(notMade.undone).toEqual([]);
    expect([...env.redis.state.accounts.keys()]).toEqual([cloudAccountId]);
    expect(env.redis.state.requests.filter((r) => r.method === "DELETE")).toEqual([]);
    expect(JSON.parse(world()).redis).toEqual(JSON.parse(before).redis);
  });

  it("undoes nothing of what another execution recorded, nor anything foreign the registry names for it", async () => {
    // The registry itself made to name the crafted execution as running, with foreign records of
    // its own and the real records of the execution that onboarded the account.
    const dynamodb = env.aws.account(HOME.accountId).dynamodb;
    const current = registryItemOf(dynamodb, TARGET);
    const at = new Date().toISOString();
    const foreign = CRAFTED.map((change) => ({
      change,
      execution: "evil-run",
      origin: "created",
      recordedAt: at,
    }));
    dynamodb.putItem({
      TableName: REGISTRY_TABLE,
      Item: toItem({
        ...current,
        status: "onboarding",
        lastExecution: "evil-run",
        lastOutcome: "running",
        resources: [...(current?.resources ?? []), ...foreign],
      }) as never,
    });
    const before = world();

    const result = await invoke({ target, execution: "evil-run" });

    expect(result.undone).toEqual([]);
    // Each foreign record is named as not this product's (or no longer this run's), and left alone.
    expect((result.leftBehind as { error: string }[]).map((item) => item.error.split(":")[0])).toEqual(
      CRAFTED.map(() => "ResourceConflict"),
    );
    expect(world()).toBe(before);
  });
});

/*
 * What adopting foreign resources took from them, given back by the rollback of the run that took
 * them over: IAM and Secrets Manager mocked, the registry a fake that answers one item.
 */
describe("the rollback of a run that adopted foreign resources", () => {
  const NODE_ROLE = "redislabs-cluster-node-role";
  const USER = "redislabs-user";
  const SECRET_NAME = `redis-cloud/byoc/${TARGET}`;
  const SECRET_ARN = `arn:aws:secretsmanager:${STEP_HOME.region}:${STEP_HOME.accountId}:secret:${SECRET_NAME}-AbCdEf`;
  const OTHER_POLICY = arnIn(TARGET, "policy/SomeoneElsesPolicy");
  const THEIR_ROLE = "someone-elses-role";
  const LAMBDA_TRUST = JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
    ],
  });
  const THEIR_SECRET_POLICY = JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { AWS: "*" }, Action: "secretsmanager:DescribeSecret", Resource: "*" },
    ],
  });

  let iamMock: AwsClientStub<IAMClient>;
  let secretsMock: AwsClientStub<SecretsManagerClient>;

  beforeEach(() => {
    iamMock = mockClient(IAMClient);
    secretsMock = mockClient(SecretsManagerClient);
    // Nothing carries this run's tag: what it adopted was someone else's.
    iamMock.on(GetPolicyCommand).rejects(awsError.noSuchEntity());
    iamMock.on(GetRoleCommand).resolves({
      Role: {
        Path: "/",
        RoleName: NODE_ROLE,
        RoleId: "AROAEXAMPLENODEROLE",
        Arn: arnIn(TARGET, `role/${NODE_ROLE}`),
        CreateDate: new Date("2024-01-01T00:00:00Z"),
        AssumeRolePolicyDocument: encoded(nodeTrust),
        Tags: FOREIGN_TAGS,
      },
    });
    iamMock.on(GetInstanceProfileCommand).resolves({
      InstanceProfile: {
        Path: "/",
        InstanceProfileName: NODE_ROLE,
        InstanceProfileId: "AIPAEXAMPLEPROFILE",
        Arn: arnIn(TARGET, `instance-profile/${NODE_ROLE}`),
        CreateDate: new Date("2024-01-01T00:00:00Z"),
        Roles: [],
        Tags: FOREIGN_TAGS,
      },
    });
    iamMock.on(GetUserCommand).resolves({
      User: {
        Path: "/",
        UserName: USER,
        UserId: "AIDAEXAMPLEUSER",
        Arn: arnIn(TARGET, `user/${USER}`),
        CreateDate: new Date("2024-01-01T00:00:00Z"),
        Tags: FOREIGN_TAGS,
      },
    });
    secretsMock.on(DescribeSecretCommand).resolves({
      ARN: SECRET_ARN,
      Name: SECRET_NAME,
      Tags: FOREIGN_TAGS,
      VersionIdsToStages: { "v-new": ["AWSCURRENT"], "v-old": ["AWSPREVIOUS"] },
    });
  });
  afterEach(() => {
    iamMock.restore();
    secretsMock.restore();
  });

  const at = "2026-01-01T00:00:00.000Z";
  const adopted = (change: Change, prior: unknown): RegistryEntry => ({
    change,
    execution: EXECUTION,
    origin: "adopted",
    recordedAt: at,
    prior: JSON.stringify(prior),
  });
  const modified = (change: Change): RegistryEntry => ({
    change,
    execution: EXECUTION,
    origin: "modified",
    recordedAt: at,
  });
  const created = (change: Change): RegistryEntry => ({
    change,
    execution: EXECUTION,
    origin: "created",
    recordedAt: at,
  });

  const ROLE_ADOPTION = adopted(
    { type: "Role", name: NODE_ROLE },
    { trust: JSON.parse(LAMBDA_TRUST), attached: [OTHER_POLICY] },
  );
  const PROFILE_ADOPTION = adopted({ type: "InstanceProfile", name: NODE_ROLE }, { roles: [THEIR_ROLE] });
  const USER_ADOPTION = adopted(
    { type: "User", name: USER },
    { accessKeyIds: [], loginProfile: true, attached: [OTHER_POLICY] },
  );
  const SECRET_ADOPTION = adopted({ type: "Secret", arn: SECRET_ARN }, { versionId: "v-old" });
  const ADOPTIONS = [ROLE_ADOPTION, PROFILE_ADOPTION, USER_ADOPTION, SECRET_ADOPTION];
  const TAKEN: RegistryEntry[] = [
    modified({ type: "TrustPolicy", role: NODE_ROLE, previousDocument: LAMBDA_TRUST }),
    modified({ type: "RolePolicyDetachment", role: NODE_ROLE, policyArn: OTHER_POLICY }),
    modified({ type: "InstanceProfileRoleRemoval", profile: NODE_ROLE, role: THEIR_ROLE }),
    created({ type: "InstanceProfileRole", profile: NODE_ROLE, role: NODE_ROLE }),
    modified({ type: "UserPolicyDetachment", user: USER, policyArn: OTHER_POLICY }),
    modified({ type: "LoginProfilePassword", user: USER }),
    modified({ type: "SecretValue", arn: SECRET_ARN, previousVersionId: "v-old" }),
    modified({ type: "SecretPolicy", arn: SECRET_ARN, previousPolicy: THEIR_SECRET_POLICY }),
    modified({ type: "SecretTag", arn: SECRET_ARN, key: "redis-cloud:cloud-account-id" }),
  ];

  /** A registry holding this running execution's item, keeping what the rollback forgets. */
  function registryOf(resources: RegistryEntry[]) {
    const item: RegistryItem = { ...registryItemOwning(), resources };
    const forgotten: Change[][] = [];
    const registry: RollbackDeps["registry"] = {
      get: async () => item,
      forget: async (_account: string, _execution: string, changes: readonly Change[]) => {
        forgotten.push([...changes]);
      },
    };
    return { registry, forgotten };
  }

  const act = (registry: RollbackDeps["registry"]) =>
    rollback(stepInput(), {
      iam: new IAMClient({}),
      secrets: new SecretsManagerClient({}),
      home: STEP_HOME,
      config: { secretNamePrefix: "redis-cloud/byoc/" },
      registry,
    });

  it("gives back what adopting took: policies reattached, the role put back, the value and policy of the secret restored", async () => {
    // Prepare
    const { registry } = registryOf([...ADOPTIONS, ...TAKEN]);

    // Act
    const result = await act(registry);

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(AttachRolePolicyCommand, {
      RoleName: NODE_ROLE,
      PolicyArn: OTHER_POLICY,
    });
    expect(iamMock).toHaveReceivedCommandWith(AttachUserPolicyCommand, {
      UserName: USER,
      PolicyArn: OTHER_POLICY,
    });
    expect(iamMock).toHaveReceivedCommandWith(UpdateAssumeRolePolicyCommand, {
      RoleName: NODE_ROLE,
      PolicyDocument: LAMBDA_TRUST,
    });
    expect(iamMock).toHaveReceivedCommandWith(AddRoleToInstanceProfileCommand, {
      InstanceProfileName: NODE_ROLE,
      RoleName: THEIR_ROLE,
    });
    expect(secretsMock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: SECRET_ARN,
      VersionStage: "AWSCURRENT",
      MoveToVersionId: "v-old",
      RemoveFromVersionId: "v-new",
    });
    expect(secretsMock).toHaveReceivedCommandWith(PutResourcePolicyCommand, {
      SecretId: SECRET_ARN,
      ResourcePolicy: THEIR_SECRET_POLICY,
    });
    expect(secretsMock).toHaveReceivedCommandWith(UntagResourceCommand, {
      SecretId: SECRET_ARN,
      TagKeys: ["redis-cloud:cloud-account-id"],
    });
    // This run's role leaves the profile before the one it took out goes back in.
    const iamWrites = writeCommands(iamMock);
    expect(iamWrites.indexOf("RemoveRoleFromInstanceProfileCommand")).toBeLessThan(
      iamWrites.indexOf("AddRoleToInstanceProfileCommand"),
    );
    expect(iamMock).toHaveReceivedCommandWith(RemoveRoleFromInstanceProfileCommand, {
      InstanceProfileName: NODE_ROLE,
      RoleName: NODE_ROLE,
    });
    // Nothing it adopted is deleted.
    expect([...iamWrites, ...writeCommands(secretsMock)].filter((name) => name.startsWith("Delete"))).toEqual(
      [],
    );
    expect(result.undone).toHaveLength(TAKEN.length - 1);
  });

  it("leaves a reset console password behind, saying it cannot be given back", async () => {
    // Prepare
    const { registry } = registryOf([
      USER_ADOPTION,
      ...TAKEN.filter((e) => e.change.type.startsWith("User") || e.change.type === "LoginProfilePassword"),
    ]);

    // Act
    const result = await act(registry);

    // Assess
    expect(result.leftBehind).toEqual([
      {
        change: `LoginProfilePassword ${USER}`,
        error: expect.stringMatching(
          /^ResourceConflict: Rollback: the console password of user redislabs-user was reset when it was adopted; the one before cannot be given back/,
        ),
      },
    ]);
    expect(result.undone).toEqual([`UserPolicyDetachment ${USER} ${OTHER_POLICY}`]);
  });

  it("deletes the resource policy of an adopted secret that had none", async () => {
    // Prepare
    const { registry } = registryOf([SECRET_ADOPTION, modified({ type: "SecretPolicy", arn: SECRET_ARN })]);

    // Act
    await act(registry);

    // Assess
    expect(secretsMock).toHaveReceivedCommandWith(DeleteResourcePolicyCommand, { SecretId: SECRET_ARN });
    expect(secretsMock).not.toHaveReceivedCommand(PutResourcePolicyCommand);
  });

  it("forgets the adoptions once everything taken from them was given back", async () => {
    // Prepare
    const { registry, forgotten } = registryOf([...ADOPTIONS, ...TAKEN]);

    // Act
    await act(registry);

    // Assess
    expect(forgotten).toHaveLength(1);
    const forgot = forgotten[0] ?? [];
    for (const entry of [...ADOPTIONS, ...TAKEN.filter((e) => e.change.type !== "LoginProfilePassword")]) {
      expect(forgot).toContainEqual(entry.change);
    }
    expect(forgot).not.toContainEqual({ type: "LoginProfilePassword", user: USER });
  });

  it("keeps an adoption whose change could not be given back", async () => {
    // Prepare
    iamMock
      .on(AttachRolePolicyCommand)
      .rejects(awsError.limitExceeded("Cannot exceed quota for PoliciesPerRole"));
    const { registry, forgotten } = registryOf([
      ROLE_ADOPTION,
      modified({ type: "RolePolicyDetachment", role: NODE_ROLE, policyArn: OTHER_POLICY }),
    ]);

    // Act
    const result = await act(registry);

    // Assess
    expect(result.leftBehind.map((left) => left.change)).toEqual([
      `RolePolicyDetachment ${NODE_ROLE} ${OTHER_POLICY}`,
    ]);
    expect(forgotten).toEqual([]);
  });
});
