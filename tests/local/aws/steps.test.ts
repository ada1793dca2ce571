import {
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  type IAMClient,
} from "@aws-sdk/client-iam";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { beforeEach, describe, expect, it } from "vitest";
import { ensureConsoleRole } from "../../../functions/ensure-console-role.ts";
import { ensureInstancePolicy } from "../../../functions/ensure-instance-policy.ts";
import { ensureNodeRole } from "../../../functions/ensure-node-role.ts";
import { ensureUser } from "../../../functions/ensure-user.ts";
import { ensureUserPolicy } from "../../../functions/ensure-user-policy.ts";
import { type Home, TargetClients } from "../../../functions/lib/aws.ts";
import {
  INSTANCE_POLICY_NAME,
  REDIS_AWS_ACCOUNT_ID,
  USER_NAME,
  USER_POLICY_NAME,
} from "../../../functions/lib/config.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { MANAGED_POLICIES, policyArn } from "../../../functions/lib/policies.ts";
import { awsError, FakeAws, type FakeClientFactory } from "../../../local/aws/index.ts";
import { NO_REGISTRY, ownedRegistry } from "../../support/aws.ts";

const HOME = "111111111111";
const TARGET = "222222222222";
const home: Home = { partition: "aws", region: "us-east-1", accountId: HOME };
const target = { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "aws-target" };
const config = { secretNamePrefix: "redis-cloud/byoc/", consoleRolePolicyName: USER_POLICY_NAME } as const;
const instancePolicyArn = policyArn("aws", TARGET, INSTANCE_POLICY_NAME);

let time: number;
let world: FakeAws;
let clients: FakeClientFactory;

beforeEach(() => {
  time = Date.UTC(2025, 5, 1);
  world = new FakeAws({ now: () => time });
  world.addAccount(TARGET, { roles: ["OrganizationAccountAccessRole"] });
  clients = world.clients(home);
});

/** The target account's IAM, reached as the Lambda functions reach it: AssumeRole of its access role. */
const targetIam = (execution: string) =>
  new TargetClients(clients, () => time).iamFor(home, target, execution, "Test");

/** The registry of this deployment: what one onboarding records, the next knows as the product's. */
let registry: ReturnType<typeof ownedRegistry>["registry"];
beforeEach(() => {
  registry = ownedRegistry().registry;
});

async function onboard(execution: string) {
  const input = { target, execution };
  const iam = await targetIam(execution);
  const deps = { iam, home, registry };
  return {
    instancePolicy: await ensureInstancePolicy(input, deps),
    userPolicy: await ensureUserPolicy(input, deps),
    nodeRole: await ensureNodeRole(input, deps),
    user: await ensureUser(input, { ...deps, secrets: clients.secrets(), config }),
    consoleRole: await ensureConsoleRole(input, { ...deps, config }),
  };
}

async function storedCredentials(arn: string) {
  const answer = await clients.secrets().send(new GetSecretValueCommand({ SecretId: arn }));
  return JSON.parse(answer.SecretString ?? "{}") as Record<string, string>;
}

describe("the IAM steps against the fake, unchanged", () => {
  it("onboard a target account through its access role, keeping the credentials in the home account", async () => {
    world.setPasswordPolicy(TARGET, { MinimumPasswordLength: 40, RequireSymbols: true });
    const result = await onboard("exec-1");

    const account = world.account(TARGET);
    expect([...account.policies.values()].map((p) => p.PolicyName).sort()).toEqual([
      INSTANCE_POLICY_NAME,
      USER_POLICY_NAME,
    ]);
    const nodeRole = account.roles.get("redislabs-cluster-node-role");
    expect(nodeRole?.attached).toEqual([instancePolicyArn]);
    expect(account.instanceProfiles.get("redislabs-cluster-node-role")?.roles).toEqual([
      "redislabs-cluster-node-role",
    ]);
    expect(JSON.parse(account.roles.get("redislabs-role")?.trust ?? "").Statement[0].Principal).toEqual({
      AWS: `arn:aws:iam::${REDIS_AWS_ACCOUNT_ID}:root`,
    });
    const user = account.users.get(USER_NAME);
    expect(user?.attached).toEqual([policyArn("aws", TARGET, USER_POLICY_NAME)]);
    expect(user?.keys.map((k) => k.AccessKeyId)).toEqual([result.user.accessKeyId]);
    expect(user?.Tags).toContainEqual({ Key: "redis-cloud-byoc:execution", Value: "exec-1" });

    // The secret lives in the home account and holds exactly what IAM was given.
    expect(result.user.secretArn).toMatch(
      new RegExp(`^arn:aws:secretsmanager:us-east-1:${HOME}:secret:redis-cloud/byoc/${TARGET}-`),
    );
    const stored = await storedCredentials(result.user.secretArn);
    expect(stored.accessKeyId).toBe(result.user.accessKeyId);
    expect(stored.secretAccessKey).toBe(user?.keys[0]?.SecretAccessKey);
    expect(stored.consolePassword).toBe(user?.login?.password);
    expect(stored.consolePassword?.length).toBeGreaterThanOrEqual(40);
    expect(world.account(HOME).roles.size + world.account(HOME).users.size).toBe(0);
    expect(result.nodeRole.changes.map((c) => c.type)).toEqual([
      "Role",
      "RolePolicyAttachment",
      "InstanceProfile",
      "InstanceProfileRole",
    ]);
  });

  it("change nothing when run again", async () => {
    await onboard("exec-1");
    const before = world.snapshot();
    const writes = world.writeCount((c) => c.accountId === TARGET);

    const again = await onboard("exec-2");
    expect(world.writeCount((c) => c.accountId === TARGET)).toBe(writes);
    expect(world.snapshot()).toEqual(before);
    expect(Object.values(again).flatMap((r) => r.changes)).toEqual([]);
  });

  it("give the product's drifted policy a new default version, first deleting the oldest when IAM's five are in use", async () => {
    const iam = await targetIam("exec-0");
    const drifted = (n: number) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: `ec2:Drift${n}`, Resource: "*" }],
      });
    await iam.send(new CreatePolicyCommand({ PolicyName: INSTANCE_POLICY_NAME, PolicyDocument: drifted(1) }));
    for (let n = 2; n <= 5; n++) {
      time += 1000;
      await iam.send(
        new CreatePolicyVersionCommand({
          PolicyArn: instancePolicyArn,
          PolicyDocument: drifted(n),
          SetAsDefault: n === 3,
        }),
      );
    }

    const owned = ownedRegistry([{ type: "Policy", arn: instancePolicyArn }]).registry;
    const result = await ensureInstancePolicy(
      { target, execution: "exec-1" },
      { iam, home, registry: owned },
    );
    const policy = world.account(TARGET).policies.get(INSTANCE_POLICY_NAME.toLowerCase());
    expect(policy?.versions.map((v) => v.VersionId)).toEqual(["v2", "v3", "v4", "v5", "v6"]);
    expect(policy?.DefaultVersionId).toBe("v6");
    expect(JSON.parse(policy?.versions.at(-1)?.document ?? "")).toEqual(
      MANAGED_POLICIES[INSTANCE_POLICY_NAME],
    );
    expect(result.changes).toEqual([
      { type: "PolicyVersion", arn: instancePolicyArn, versionId: "v6", previousDefaultVersionId: "v3" },
    ]);
  });

  it("hand out a key that AWS refuses until IAM has propagated it", async () => {
    world.keyPropagationMs = 8_000;
    const { user } = await onboard("exec-1");
    const stored = await storedCredentials(user.secretArn);
    const sts = clients.sts({
      accessKeyId: stored.accessKeyId ?? "",
      secretAccessKey: stored.secretAccessKey ?? "",
    });

    await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
    time += 8_000;
    expect((await sts.send(new GetCallerIdentityCommand({}))).Arn).toBe(
      `arn:aws:iam::${TARGET}:user/${USER_NAME}`,
    );
  });

  it("stop at a user that existed before and has two keys, without touching its password, even when adopting", async () => {
    const iam: IAMClient = await targetIam("exec-0");
    await iam.send(new CreateUserCommand({ UserName: USER_NAME }));
    await iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME }));
    await iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME }));
    await ensureUserPolicy({ target, execution: "exec-1" }, { iam, home, registry: NO_REGISTRY });

    const failure = await ensureUser(
      { target: { ...target, adopt: true }, execution: "exec-1" },
      { iam, home, secrets: clients.secrets(), config, registry: NO_REGISTRY },
    ).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowError);
    expect((failure as WorkflowError).name).toBe("ForeignResource");
    expect((failure as WorkflowError).message).toContain("it has IAM's 2 access keys");
    expect(world.account(TARGET).users.get(USER_NAME)?.login).toBeUndefined();
  });

  it("surface an injected throttling as the workflow's Throttling, and succeed when run again", async () => {
    world.fail(
      (c) => c.accountId === TARGET && c.command === "CreateRole",
      () => awsError("iam", "Throttling"),
      1,
    );
    const iam = await targetIam("exec-1");
    const failure = await ensureNodeRole(
      { target, execution: "exec-1" },
      { iam, home, registry: NO_REGISTRY },
    ).catch((e: unknown) => e);
    expect((failure as WorkflowError).name).toBe("Throttling");

    await ensureInstancePolicy({ target, execution: "exec-1" }, { iam, home, registry: NO_REGISTRY });
    const result = await ensureNodeRole(
      { target, execution: "exec-1" },
      { iam, home, registry: NO_REGISTRY },
    );
    expect(result.roleArn).toBe(`arn:aws:iam::${TARGET}:role/redislabs-cluster-node-role`);
  });
});
