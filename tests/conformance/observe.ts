import {
  GetInstanceProfileCommand,
  GetLoginProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetUserCommand,
  type IAMClient,
  ListAccessKeysCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListPolicyVersionsCommand,
} from "@aws-sdk/client-iam";
import { DescribeSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import {
  CONSOLE_ROLE_NAME,
  INSTANCE_POLICY_NAME,
  NODE_ROLE_NAME,
  USER_NAME,
  USER_POLICY_NAME,
} from "../../functions/lib/config.ts";
import type { WorkflowResult } from "../../local/workflow.ts";
import type { World } from "./worlds.ts";

/*
 * What a scenario's outcome is, read back through the API from either AWS: the same reads, so
 * that the two can be compared. Only what both keep is kept: names, documents, attachments, tags,
 * counts; never ids, dates or secret values.
 */

const absent = (error: unknown) => ({ absent: error instanceof Error ? error.name : String(error) });
const tagsOf = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined) =>
  Object.fromEntries(
    (tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]).sort(([a = ""], [b = ""]) => a.localeCompare(b)),
  );
/** IAM answers documents URL-encoded; read them as JSON. */
const documentOf = (text: string | undefined): unknown => JSON.parse(decodeURIComponent(text ?? "null"));

async function policy(iam: IAMClient, accountId: string, name: string) {
  const arn = `arn:aws:iam::${accountId}:policy/${name}`;
  try {
    const { Policy: p } = await iam.send(new GetPolicyCommand({ PolicyArn: arn }));
    const versions = await iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn }));
    const current = await iam.send(
      new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: p?.DefaultVersionId }),
    );
    return {
      versions: versions.Versions?.length,
      document: documentOf(current.PolicyVersion?.Document),
      tags: tagsOf(p?.Tags),
    };
  } catch (error) {
    return absent(error);
  }
}

async function role(iam: IAMClient, name: string) {
  try {
    const { Role: r } = await iam.send(new GetRoleCommand({ RoleName: name }));
    const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }));
    return {
      trust: documentOf(r?.AssumeRolePolicyDocument),
      attached: (attached.AttachedPolicies ?? []).map((p) => p.PolicyName).sort(),
      tags: tagsOf(r?.Tags),
    };
  } catch (error) {
    return absent(error);
  }
}

async function instanceProfile(iam: IAMClient, name: string) {
  try {
    const { InstanceProfile: p } = await iam.send(
      new GetInstanceProfileCommand({ InstanceProfileName: name }),
    );
    return { roles: (p?.Roles ?? []).map((r) => r.RoleName), tags: tagsOf(p?.Tags) };
  } catch (error) {
    return absent(error);
  }
}

async function user(iam: IAMClient, name: string) {
  try {
    const { User: u } = await iam.send(new GetUserCommand({ UserName: name }));
    const attached = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: name }));
    const keys = await iam.send(new ListAccessKeysCommand({ UserName: name }));
    const login = await iam.send(new GetLoginProfileCommand({ UserName: name })).then(
      () => true,
      () => false,
    );
    return {
      attached: (attached.AttachedPolicies ?? []).map((p) => p.PolicyName).sort(),
      keys: keys.AccessKeyMetadata?.length,
      login,
      tags: tagsOf(u?.Tags),
    };
  } catch (error) {
    return absent(error);
  }
}

async function secret(world: World, accountId: string) {
  const SecretId = `redis-cloud/byoc/${accountId}`;
  try {
    const described = await world.secrets().send(new DescribeSecretCommand({ SecretId }));
    if (described.DeletedDate) return { scheduledForDeletion: true };
    const value = await world.secrets().send(new GetSecretValueCommand({ SecretId }));
    // The field names only: the values are secrets, and differ by construction. The versions'
    // stages (a rotation moves them) without their ids.
    return {
      fields: Object.keys(JSON.parse(value.SecretString ?? "{}")).sort(),
      tags: tagsOf(described.Tags),
      stages: Object.values(described.VersionIdsToStages ?? {})
        .map((stages) => [...stages].sort().join("+"))
        .filter(Boolean)
        .sort(),
    };
  } catch (error) {
    return absent(error);
  }
}

/** The account's BYOC resources and its credentials secret in the home account. */
export async function observeAccount(world: World, accountId: string) {
  const iam = await world.iamIn(accountId);
  return {
    instancePolicy: await policy(iam, accountId, INSTANCE_POLICY_NAME),
    userPolicy: await policy(iam, accountId, USER_POLICY_NAME),
    nodeRole: await role(iam, NODE_ROLE_NAME),
    instanceProfile: await instanceProfile(iam, NODE_ROLE_NAME),
    consoleRole: await role(iam, CONSOLE_ROLE_NAME),
    user: await user(iam, USER_NAME),
    secret: await secret(world, accountId),
  };
}

export type Outcome = Record<string, unknown>;

/** A run's outcome: how it ended, the calls it made, what the account and Redis hold after it. */
export async function outcomeOf(world: World, result: WorkflowResult, accountId: string, callsFrom: number) {
  return {
    status: result.status,
    error: result.error?.Error ?? null,
    calls: world.calls.slice(callsFrom),
    account: await observeAccount(world, accountId),
    redis: [...world.redis.state.accounts.values()].map((a) => a.status),
    published: world.published.map(
      (p) => JSON.stringify(p).match(/Redis Cloud [\w ]+ (Succeeded|Failed|Detected|Completed)/)?.[0],
    ),
  };
}

/**
 * The same outcome, whichever AWS: the home account's id (moto's default is 123456789012),
 * access key ids and a secret ARN's random suffix are the AWS's own choice.
 */
export function normalized(outcome: unknown, world: World): unknown {
  const text = JSON.stringify(outcome)
    .replaceAll(world.home.accountId, "<home>")
    .replace(/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, "<key>")
    .replace(/(:secret:[\w/+=.@-]+?)-[A-Za-z0-9]{6}\b/g, "$1");
  return JSON.parse(text);
}
