import { createHash } from "node:crypto";
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateAccessKeyCommand,
  CreateInstanceProfileCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
} from "@aws-sdk/client-iam";
import { CreateSecretCommand, DeleteSecretCommand } from "@aws-sdk/client-secrets-manager";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { awsError, type FakeCall, isWrite } from "../../local/aws/index.ts";
import { failableState, failingAt } from "../../local/cli/fail-at.ts";
import {
  HOME,
  type LocalEnvironment,
  REGISTRY_TABLE,
  startLocalEnvironment,
} from "../../local/environment.ts";
import type { WorkflowOptions } from "../../local/workflow.ts";
import { TARGET } from "./support.ts";

/*
 * Accounts as the onboarding may find them: resources of Redis's names made by someone else (or by
 * the product, then partly lost), made straight in the in-memory AWS before the run. Each world
 * says which resources the run must name as foreign, and whether adopting them is refused too.
 */

export const SECRET_NAME = `redis-cloud/byoc/${TARGET}`;
/** Another account, trusted by a foreign console role. */
export const OTHER_ACCOUNT = "999999999999";

export interface World {
  name: string;
  /** The resources a run without `"adopt": true` must name, as its ForeignResource cause does. */
  foreign: string[];
  /** Adopting is refused too (something would be destroyed for good): the run stops either way. */
  blocking: boolean;
  /** The run resets a console password, which no rollback can give back (documented as unrestorable). */
  resetsPassword: boolean;
  /** Made by the product earlier: nothing is foreign, `adopt` changes nothing. */
  productMade: boolean;
  /** How a run that goes on to Redis ends when it cannot end well (Redis holds the name with another key). */
  adoptedError?: string;
  /** An adopted secret keeps the version the run added (labelled AWSPREVIOUS): said unrestorable. */
  addsSecretVersion?: boolean;
  build(env: LocalEnvironment): Promise<void>;
}

/** SDK clients that act in the target account, as a person with its admin rights would. */
const targetIam = (env: LocalEnvironment) =>
  env.aws.clients({ accountId: TARGET, region: HOME.region }).iam();

const trust = (principal: Record<string, string>) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: principal, Action: "sts:AssumeRole" }],
  });

const someDocument = (action: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: action, Resource: "*" }] });

async function foreignUser(env: LocalEnvironment, keys: number, login: boolean) {
  const iam = targetIam(env);
  await iam.send(new CreateUserCommand({ UserName: "redislabs-user" }));
  for (let i = 0; i < keys; i++) await iam.send(new CreateAccessKeyCommand({ UserName: "redislabs-user" }));
  if (login) {
    await iam.send(
      new CreateLoginProfileCommand({
        UserName: "redislabs-user",
        Password: `Prior-${createHash("sha256").update(String(Math.random())).digest("hex").slice(0, 12)}`,
      }),
    );
  }
}

/** Onboards the account with the product, as an earlier run would have. */
async function onboardedEarlier(env: LocalEnvironment) {
  const result = await env.run({ accountId: TARGET }, { executionName: "earlier-run" });
  if (result.status !== "SUCCEEDED") throw new Error(`the earlier onboarding failed: ${result.error?.Error}`);
}

const deleteSecret = (env: LocalEnvironment) =>
  env.runtime.clients
    .secrets()
    .send(new DeleteSecretCommand({ SecretId: SECRET_NAME, ForceDeleteWithoutRecovery: true }));

export const WORLDS: World[] = [
  {
    name: "redislabs-user with one access key",
    foreign: ["user redislabs-user"],
    blocking: false,
    resetsPassword: false,
    productMade: false,
    build: (env) => foreignUser(env, 1, false),
  },
  {
    name: "redislabs-user with two access keys",
    foreign: ["user redislabs-user"],
    blocking: true,
    resetsPassword: false,
    productMade: false,
    build: (env) => foreignUser(env, 2, false),
  },
  {
    name: "redislabs-user with a console password",
    foreign: ["user redislabs-user"],
    blocking: false,
    resetsPassword: true,
    productMade: false,
    build: (env) => foreignUser(env, 0, true),
  },
  {
    name: `redislabs-role trusting ${OTHER_ACCOUNT}, AdministratorAccess attached`,
    foreign: ["role redislabs-role"],
    blocking: false,
    resetsPassword: false,
    productMade: false,
    build: async (env) => {
      const iam = targetIam(env);
      // The fake knows customer-managed policies only: an account's own AdministratorAccess.
      const admin = await iam.send(
        new CreatePolicyCommand({ PolicyName: "AdministratorAccess", PolicyDocument: someDocument("*") }),
      );
      await iam.send(
        new CreateRoleCommand({
          RoleName: "redislabs-role",
          AssumeRolePolicyDocument: trust({ AWS: `arn:aws:iam::${OTHER_ACCOUNT}:root` }),
        }),
      );
      await iam.send(
        new AttachRolePolicyCommand({ RoleName: "redislabs-role", PolicyArn: admin.Policy?.Arn ?? "" }),
      );
    },
  },
  {
    name: "redislabs-cluster-node-role trusting lambda.amazonaws.com",
    foreign: ["role redislabs-cluster-node-role"],
    blocking: false,
    resetsPassword: false,
    productMade: false,
    build: async (env) => {
      await targetIam(env).send(
        new CreateRoleCommand({
          RoleName: "redislabs-cluster-node-role",
          AssumeRolePolicyDocument: trust({ Service: "lambda.amazonaws.com" }),
        }),
      );
    },
  },
  {
    name: "RedisLabsInstanceRolePolicy with other content and five versions",
    foreign: [`policy arn:aws:iam::${TARGET}:policy/RedisLabsInstanceRolePolicy`],
    blocking: true,
    resetsPassword: false,
    productMade: false,
    build: async (env) => {
      const iam = targetIam(env);
      const made = await iam.send(
        new CreatePolicyCommand({
          PolicyName: "RedisLabsInstanceRolePolicy",
          PolicyDocument: someDocument("s3:GetObject"),
        }),
      );
      const arn = made.Policy?.Arn ?? "";
      for (const action of ["s3:PutObject", "s3:ListBucket", "ec2:DescribeInstances", "sqs:SendMessage"]) {
        await iam.send(
          new CreatePolicyVersionCommand({
            PolicyArn: arn,
            PolicyDocument: someDocument(action),
            SetAsDefault: true,
          }),
        );
      }
    },
  },
  {
    name: "instance profile redislabs-cluster-node-role holding another role",
    foreign: ["instance profile redislabs-cluster-node-role"],
    blocking: false,
    resetsPassword: false,
    productMade: false,
    build: async (env) => {
      const iam = targetIam(env);
      await iam.send(
        new CreateRoleCommand({
          RoleName: "batch-workers",
          AssumeRolePolicyDocument: trust({ Service: "ec2.amazonaws.com" }),
        }),
      );
      await iam.send(
        new CreateInstanceProfileCommand({ InstanceProfileName: "redislabs-cluster-node-role" }),
      );
      await iam.send(
        new AddRoleToInstanceProfileCommand({
          InstanceProfileName: "redislabs-cluster-node-role",
          RoleName: "batch-workers",
        }),
      );
    },
  },
  {
    name: `a foreign secret at ${SECRET_NAME}`,
    foreign: [`secret arn:aws:secretsmanager:${HOME.region}:${HOME.accountId}:secret:${SECRET_NAME}`],
    blocking: false,
    resetsPassword: false,
    productMade: false,
    // Secrets Manager deletes no version on request: the run's, no longer current, stays AWSPREVIOUS.
    addsSecretVersion: true,
    build: async (env) => {
      await env.runtime.clients.secrets().send(
        new CreateSecretCommand({
          Name: SECRET_NAME,
          SecretString: JSON.stringify({ owner: "payments-team", note: "kept here by hand" }),
        }),
      );
    },
  },
  {
    name: "onboarded earlier by the product, its credentials secret deleted since (lost secret)",
    foreign: [],
    blocking: false,
    // Its console password, which only the lost secret held, is reset for the new secret.
    resetsPassword: true,
    productMade: true,
    build: async (env) => {
      await onboardedEarlier(env);
      await deleteSecret(env);
    },
  },
  {
    name: "onboarded by another deployment (its own registry and secret, the same IAM and Redis)",
    foreign: ["user redislabs-user"],
    blocking: false,
    resetsPassword: true,
    productMade: false,
    // Redis already holds a cloud account of this name with the other deployment's key.
    adoptedError: "RedisCloudConflict",
    build: async (env) => {
      await onboardedEarlier(env);
      // This deployment's registry and secrets know nothing of it: the other deployment's are elsewhere.
      env.dynamodb.deleteItem({ TableName: REGISTRY_TABLE, Key: { accountId: { S: TARGET } } });
      await deleteSecret(env);
    },
  },
];

/** A fresh environment (cold, as a new Lambda container) holding the world. */
export async function worldEnvironment(world: World): Promise<LocalEnvironment> {
  forgetRedisApiKeys();
  const env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  await world.build(env);
  return env;
}

/** The writes a run makes where Redis's resources and their credentials live: IAM and Secrets Manager. */
export const isResourceWrite = (call: FakeCall): boolean =>
  isWrite(call.command) &&
  call.error === undefined &&
  ((call.service === "iam" && call.accountId === TARGET) ||
    (call.service === "secretsmanager" && call.accountId === HOME.accountId));

/**
 * A crash right after the nth IAM or Secrets Manager write since `from`: the next AWS call, whatever
 * it is (most often the registry's record of that write), fails with a 503, which the state machine
 * retries. Answers whether it fired.
 */
export function crashAfterWrite(env: LocalEnvironment, nth: number, from: number): () => boolean {
  let writes = 0;
  let counted = from;
  let fired = false;
  let crashed: FakeCall | undefined;
  env.aws.fail(
    (call) => {
      // Every call before this one (the last logged) is answered: count its writes.
      const calls = env.aws.calls;
      for (; counted < calls.length - 1; counted++) {
        const done = calls[counted];
        if (done && isResourceWrite(done)) writes += 1;
      }
      if (fired || writes < nth) return false;
      fired = true;
      crashed = call;
      return true;
    },
    () => unavailable(crashed as FakeCall),
    1,
  );
  return () => fired;
}

/** The run's wiring for a permanent failure of `state` (AccessDenied before it does anything). */
export function failingState(env: LocalEnvironment, state: string): Partial<WorkflowOptions> {
  return failingAt(failableState(state), { runs: env.runs, services: env.services });
}

/** A 503 of the call's own service, as the SDK makes it from the answer. */
export const unavailable = (call: FakeCall): Error =>
  awsError(call.service, "ServiceUnavailable", "Service is unavailable; try again.", "server");
