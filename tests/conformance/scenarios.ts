import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateAccessKeyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteRoleCommand,
  DetachUserPolicyCommand,
  GetRoleCommand,
  type IAMClient,
} from "@aws-sdk/client-iam";
import { CreateSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import {
  INSTANCE_POLICY_NAME,
  NODE_ROLE_NAME,
  USER_NAME,
  USER_POLICY_NAME,
} from "../../functions/lib/config.ts";
import type { WorkflowName } from "../../local/workflow.ts";
import { type Outcome, outcomeOf } from "./observe.ts";
import { ACCESS_ROLE, TARGET, type World } from "./worlds.ts";

/*
 * One list of scenarios, each run against the in-memory AWS and against moto. A workflow scenario
 * arranges an account (through the API, the same calls in both), runs the onboarding, and yields
 * the calls, the error name and the end state; a probe sends one request IAM, STS or Secrets
 * Manager has a rule about, and yields the error's name and HTTP status.
 */

export interface Scenario {
  name: string;
  /** Runs it in a fresh world; the outcome is what the two AWSes must agree on. */
  run(world: World): Promise<Outcome>;
  /** How it must end, whichever AWS: a status, or for a probe the answer. */
  expected:
    | {
        status: "SUCCEEDED" | "FAILED";
        error?: string;
        /** Events the world must have published (among others), by detail type. */
        published?: string[];
      }
    | { answer: string };
}

const doc = (statement: object) => JSON.stringify({ Version: "2012-10-17", Statement: [statement] });
const EC2_TRUST = doc({
  Effect: "Allow",
  Principal: { Service: "ec2.amazonaws.com" },
  Action: "sts:AssumeRole",
});
const LAMBDA_TRUST = doc({
  Effect: "Allow",
  Principal: { Service: "lambda.amazonaws.com" },
  Action: "sts:AssumeRole",
});
const READ_ONLY = (n: number) =>
  doc({ Sid: `Drift${n}`, Effect: "Allow", Action: "s3:GetObject", Resource: "*" });

interface Flow {
  name: string;
  /** The input; `{}` onboards the home account. */
  input?: Record<string, unknown>;
  arrange?: (iam: IAMClient, world: World) => Promise<unknown>;
  /** Onboard once before the scenario's own run (a re-run). */
  onboardedBefore?: boolean;
  /** The workflow the scenario runs (default: the onboarding). */
  workflow?: WorkflowName;
  /** The account it acts on when its input names none (a reconcile reads the registry). */
  account?: string;
  failAt?: string;
  expected: { status: "SUCCEEDED" | "FAILED"; error?: string; published?: string[] };
}

function workflow(flow: Flow): Scenario {
  const input = flow.input ?? { accountId: TARGET };
  return {
    name: flow.name,
    expected: flow.expected,
    run: async (world) => {
      const named = typeof input.accountId === "string" ? input.accountId : undefined;
      const accountId = flow.account ?? named ?? world.home.accountId;
      // Another workflow's input is not the onboarding's: the account alone is.
      const onboarding = flow.workflow ? { accountId } : input;
      if (flow.onboardedBefore) await world.run(onboarding, { executionName: "first-run" });
      await flow.arrange?.(await world.iamIn(accountId), world);
      const from = world.calls.length;
      const failAt = flow.failAt === undefined ? {} : { failAt: flow.failAt };
      const result = flow.workflow
        ? await world.runWorkflow(flow.workflow, input, { executionName: "scenario-run" })
        : await world.run(input, { executionName: "scenario-run", ...failAt });
      return outcomeOf(world, result, accountId, from);
    },
  };
}

const ok = { status: "SUCCEEDED" } as const;
const failed = (error: string) => ({ status: "FAILED", error }) as const;
const createUserWithKeys = async (iam: IAMClient, keys: number) => {
  await iam.send(new CreateUserCommand({ UserName: USER_NAME }));
  for (let n = 0; n < keys; n += 1) await iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME }));
};
const driftedPolicy = async (iam: IAMClient, versions: number) => {
  const made = await iam.send(
    new CreatePolicyCommand({ PolicyName: INSTANCE_POLICY_NAME, PolicyDocument: READ_ONLY(1) }),
  );
  for (let n = 2; n <= versions; n += 1) {
    await iam.send(
      new CreatePolicyVersionCommand({
        PolicyArn: made.Policy?.Arn,
        PolicyDocument: READ_ONLY(n),
        SetAsDefault: true,
      }),
    );
  }
};

/*
 * The pre-existing resources below are not the product's: without "adopt": true each run stops
 * with ForeignResource before any write. They are adopted, so that both AWSes are driven through
 * the adoption's writes and the rollback's giving back; the ones adopting would destroy (two keys,
 * five versions) stop even so.
 */
export const WORKFLOWS: Scenario[] = [
  workflow({
    name: "fresh onboarding of another account",
    input: { accountId: TARGET, accountName: "payments-prod" },
    expected: ok,
  }),
  workflow({ name: "fresh onboarding of the home account", input: {}, expected: ok }),
  workflow({ name: "re-run of an onboarded account", onboardedBefore: true, expected: ok }),
  workflow({ name: "re-run of the onboarded home account", input: {}, onboardedBefore: true, expected: ok }),
  workflow({
    name: "pre-existing redislabs-user with two keys not its own",
    input: { accountId: TARGET, adopt: true },
    arrange: (iam) => createUserWithKeys(iam, 2),
    expected: failed("ForeignResource"),
  }),
  workflow({
    name: "pre-existing redislabs-user with one key not its own",
    input: { accountId: TARGET, adopt: true },
    arrange: (iam) => createUserWithKeys(iam, 1),
    expected: ok,
  }),
  workflow({
    name: "pre-existing drifted instance policy",
    input: { accountId: TARGET, adopt: true },
    arrange: (iam) => driftedPolicy(iam, 1),
    expected: ok,
  }),
  workflow({
    name: "pre-existing drifted instance policy with five versions",
    input: { accountId: TARGET, adopt: true },
    arrange: (iam) => driftedPolicy(iam, 5),
    expected: failed("ForeignResource"),
  }),
  workflow({
    name: "pre-existing node role with a drifted trust policy",
    input: { accountId: TARGET, adopt: true },
    arrange: (iam) =>
      iam.send(new CreateRoleCommand({ RoleName: NODE_ROLE_NAME, AssumeRolePolicyDocument: LAMBDA_TRUST })),
    expected: ok,
  }),
  workflow({
    name: "pre-existing instance profile holding another role",
    input: { accountId: TARGET, adopt: true },
    arrange: async (iam) => {
      await iam.send(
        new CreateRoleCommand({ RoleName: "someone-elses-role", AssumeRolePolicyDocument: EC2_TRUST }),
      );
      await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: NODE_ROLE_NAME }));
      await iam.send(
        new AddRoleToInstanceProfileCommand({
          InstanceProfileName: NODE_ROLE_NAME,
          RoleName: "someone-elses-role",
        }),
      );
    },
    expected: ok,
  }),
  workflow({
    name: "rollback of a fresh run failing at EnsureConsoleRole",
    failAt: "EnsureConsoleRole",
    expected: failed("AccessDenied"),
  }),
  workflow({
    name: "rollback of a fresh run failing at RegisterCloudAccount",
    failAt: "RegisterCloudAccount",
    expected: failed("AccessDenied"),
  }),
  workflow({
    name: "rollback of a re-run leaves the onboarded account as it was",
    onboardedBefore: true,
    failAt: "EnsureUser",
    expected: failed("AccessDenied"),
  }),
  workflow({
    name: "rollback restores a drifted policy's previous default version",
    input: { accountId: TARGET, adopt: true },
    arrange: (iam) => driftedPolicy(iam, 1),
    failAt: "EnsureConsoleRole",
    expected: failed("AccessDenied"),
  }),
  workflow({
    name: "rollback keeps a pre-existing user and its foreign key",
    input: { accountId: TARGET, adopt: true },
    arrange: (iam) => createUserWithKeys(iam, 1),
    failAt: "VerifyAccessKey",
    expected: failed("AccessDenied"),
  }),
  // Credential rotation: a second key made and verified, Redis switched to it, the secret's stages
  // moved (AWSPENDING, then AWSCURRENT with AWSPREVIOUS behind), the old key deactivated and deleted.
  workflow({
    name: "rotation of an onboarded account",
    workflow: "rotation",
    input: { accountId: TARGET, rotate: true },
    onboardedBefore: true,
    expected: ok,
  }),
  // Offboarding: what the onboarding made, deleted in IAM's order; the secret scheduled for deletion.
  workflow({
    name: "offboarding of an onboarded account",
    workflow: "offboarding",
    onboardedBefore: true,
    expected: ok,
  }),
  // Scheduled reconcile: the registry's active accounts read again; a policy detached by hand is
  // found (and, without repairDrift, left as it is).
  workflow({
    name: "reconcile of an onboarded account a person changed by hand",
    workflow: "reconcile",
    input: {},
    account: TARGET,
    onboardedBefore: true,
    arrange: (_, world) =>
      world.iamIn(TARGET).then((iam) =>
        iam.send(
          new DetachUserPolicyCommand({
            UserName: USER_NAME,
            PolicyArn: `arn:aws:iam::${TARGET}:policy/${USER_POLICY_NAME}`,
          }),
        ),
      ),
    expected: { status: "SUCCEEDED", published: ["Redis Cloud Account Drift Detected"] },
  }),
  workflow({
    name: "the target account has no access role",
    arrange: (_, world) =>
      world.iamIn(TARGET).then((iam) => iam.send(new DeleteRoleCommand({ RoleName: ACCESS_ROLE }))),
    expected: failed("TargetAccessDenied"),
  }),
];

/** A probe's outcome: the answer's error name (or "ok") and its HTTP status. */
async function answer(request: () => Promise<unknown>): Promise<Outcome> {
  try {
    const output = (await request()) as { $metadata?: { httpStatusCode?: number } };
    return { answer: "ok", status: output.$metadata?.httpStatusCode };
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    return { answer: e.name, status: e.$metadata?.httpStatusCode };
  }
}

function probe(
  name: string,
  expected: string,
  send: (iam: IAMClient, world: World) => Promise<unknown>,
): Scenario {
  return {
    name,
    expected: { answer: expected },
    run: async (world) => {
      const iam = await world.iamIn(world.home.accountId);
      return answer(() => send(iam, world));
    },
  };
}

/** Secrets Manager takes a ClientRequestToken of 32 to 64 characters; one of `length` is refused. */
function tokenProbe(length: number): Scenario {
  return probe(`a ClientRequestToken of ${length} characters`, "ValidationException", (_, world) =>
    world.secrets().send(
      new CreateSecretCommand({
        Name: `token-of-${length}`,
        SecretString: "v",
        ClientRequestToken: "a".repeat(length),
      }),
    ),
  );
}

/** A policy document of `size` characters (IAM counts them without whitespace). */
const policyOfSize = (size: number) => {
  const shell = (sid: string) => doc({ Sid: sid, Effect: "Allow", Action: "s3:GetObject", Resource: "*" });
  return shell("A".repeat(size - shell("").length));
};
const mfaTrust = (operator: string, accountId: string) =>
  doc({
    Effect: "Allow",
    Principal: { AWS: `arn:aws:iam::${accountId}:root` },
    Action: "sts:AssumeRole",
    Condition: { [operator]: { "aws:MultiFactorAuthPresent": "true" } },
  });
const trustOfSize = (size: number) => {
  const shell = (sid: string) =>
    doc({ Sid: sid, Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" });
  return shell("A".repeat(size - shell("").length));
};

export const PROBES: Scenario[] = [
  probe("GetRole of a missing role", "NoSuchEntityException", (iam) =>
    iam.send(new GetRoleCommand({ RoleName: "missing" })),
  ),
  probe("GetSecretValue of a missing secret", "ResourceNotFoundException", (_, world) =>
    world.secrets().send(new GetSecretValueCommand({ SecretId: "missing" })),
  ),
  probe("CreateSecret of a name already taken", "ResourceExistsException", async (_, world) => {
    await world.secrets().send(new CreateSecretCommand({ Name: "taken", SecretString: "a" }));
    return world.secrets().send(new CreateSecretCommand({ Name: "taken", SecretString: "b" }));
  }),
  probe("a managed policy document of exactly 6,144 characters", "ok", (iam) =>
    iam.send(new CreatePolicyCommand({ PolicyName: "at-limit", PolicyDocument: policyOfSize(6144) })),
  ),
  probe("a managed policy document of 6,145 characters", "LimitExceededException", (iam) =>
    iam.send(new CreatePolicyCommand({ PolicyName: "over-limit", PolicyDocument: policyOfSize(6145) })),
  ),
  probe("a trust policy of 2,049 characters", "LimitExceededException", (iam) =>
    iam.send(new CreateRoleCommand({ RoleName: "big-trust", AssumeRolePolicyDocument: trustOfSize(2049) })),
  ),
  tokenProbe(31),
  tokenProbe(65),
  probe(
    "a trust policy with an unknown condition operator",
    "MalformedPolicyDocumentException",
    (iam, world) =>
      iam.send(
        new CreateRoleCommand({
          RoleName: "bad-condition",
          AssumeRolePolicyDocument: mfaTrust("Boolean", world.home.accountId),
        }),
      ),
  ),
  probe("AssumeRole without MFA of a role whose trust requires it", "AccessDenied", async (iam, world) => {
    const trust = mfaTrust("Bool", world.home.accountId);
    await iam.send(new CreateRoleCommand({ RoleName: "needs-mfa", AssumeRolePolicyDocument: trust }));
    const RoleArn = `arn:aws:iam::${world.home.accountId}:role/needs-mfa`;
    return world.sts().send(new AssumeRoleCommand({ RoleArn, RoleSessionName: "no-mfa" }));
  }),
  probe("a third access key", "LimitExceededException", async (iam) => {
    await createUserWithKeys(iam, 2);
    return iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME }));
  }),
  probe("a sixth policy version", "LimitExceededException", async (iam, world) => {
    await driftedPolicy(iam, 5);
    const PolicyArn = `arn:aws:iam::${world.home.accountId}:policy/${INSTANCE_POLICY_NAME}`;
    return iam.send(new CreatePolicyVersionCommand({ PolicyArn, PolicyDocument: READ_ONLY(6) }));
  }),
  probe("DeleteRole of a role with an attached policy", "DeleteConflictException", async (iam, world) => {
    await driftedPolicy(iam, 1);
    await iam.send(new CreateRoleCommand({ RoleName: "holder", AssumeRolePolicyDocument: EC2_TRUST }));
    const PolicyArn = `arn:aws:iam::${world.home.accountId}:policy/${INSTANCE_POLICY_NAME}`;
    await iam.send(new AttachRolePolicyCommand({ RoleName: "holder", PolicyArn }));
    return iam.send(new DeleteRoleCommand({ RoleName: "holder" }));
  }),
  probe("a second role in an instance profile", "LimitExceededException", async (iam) => {
    for (const RoleName of ["first", "second"]) {
      await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: EC2_TRUST }));
    }
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "profile" }));
    await iam.send(
      new AddRoleToInstanceProfileCommand({ InstanceProfileName: "profile", RoleName: "first" }),
    );
    return iam.send(
      new AddRoleToInstanceProfileCommand({ InstanceProfileName: "profile", RoleName: "second" }),
    );
  }),
];

export const SCENARIOS: Scenario[] = [...WORKFLOWS, ...PROBES];
