import {
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetRoleCommand,
  GetUserCommand,
  type IAMClient,
  ListPolicyVersionsCommand,
} from "@aws-sdk/client-iam";
import { DescribeSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Home } from "./aws.ts";
import {
  CONSOLE_ROLE_NAME,
  type Config,
  INSTANCE_POLICY_NAME,
  NODE_ROLE_NAME,
  USER_NAME,
  USER_POLICY_NAME,
} from "./config.ts";
import { secretName } from "./credentials-secret.ts";
import { decodePolicyDocument, policyArn, samePolicy, TRUST_POLICIES } from "./policies.ts";
import type { Change, StepRecorder } from "./step.ts";

/*
 * Before the rollback undoes a recorded change, it checks that the change is still this run's: the
 * resource is one of the few this product makes, in this account, and it still carries this
 * execution's tag; a change that cannot be tagged (an attachment, a policy version, a trust
 * policy, a key) is checked against the state the run recorded. Anything else is left alone.
 */

export interface CheckContext {
  iam: IAMClient;
  secrets: SecretsManagerClient;
  home: Home;
  config: Pick<Config, "secretNamePrefix">;
  accountId: string;
  rec: StepRecorder;
}

/** Undo it; it is gone already (nothing to call); or why it is not this run's to undo. */
export type Verdict = "undo" | "gone" | { refused: string };

const ROLE_TRUST: Record<string, unknown> = {
  [NODE_ROLE_NAME]: TRUST_POLICIES.nodeRole,
  [CONSOLE_ROLE_NAME]: TRUST_POLICIES.consoleRole,
};

const productPolicies = (ctx: CheckContext) =>
  [INSTANCE_POLICY_NAME, USER_POLICY_NAME].map((name) => policyArn(ctx.home.partition, ctx.accountId, name));

const refused = (why: string): Verdict => ({ refused: why });
const notOurs = (what: string) => refused(`${what} is not a resource this product makes in this account`);
const untagged = (what: string) => refused(`${what} no longer carries this execution's tag`);

/** Checks one recorded change; reads only. */
export async function checkChange(change: Change, ctx: CheckContext): Promise<Verdict> {
  switch (change.type) {
    case "Policy":
      return checkPolicy(change.arn, ctx);
    case "Role":
      return change.name in ROLE_TRUST ? checkRole(change.name, ctx) : notOurs(`role ${change.name}`);
    case "InstanceProfile":
      return change.name === NODE_ROLE_NAME
        ? checkInstanceProfile(change.name, ctx)
        : notOurs(`instance profile ${change.name}`);
    case "User":
      return change.name === USER_NAME ? checkUser(change.name, ctx) : notOurs(`user ${change.name}`);
    case "Secret":
      return checkSecret(change.arn, ctx);
    // Not taggable: the recorded key id is the record's own, so no other key can be hit.
    case "AccessKey":
      return change.user === USER_NAME ? "undo" : notOurs(`access key of user ${change.user}`);
    case "LoginProfile":
      return change.user === USER_NAME ? "undo" : notOurs(`login profile of user ${change.user}`);
    case "UserPolicyAttachment":
      return change.user === USER_NAME && productPolicies(ctx).includes(change.policyArn)
        ? "undo"
        : notOurs(`attachment of ${change.policyArn} to ${change.user}`);
    case "RolePolicyAttachment":
      return change.role in ROLE_TRUST && productPolicies(ctx).includes(change.policyArn)
        ? "undo"
        : notOurs(`attachment of ${change.policyArn} to ${change.role}`);
    case "InstanceProfileRole":
      return change.profile === NODE_ROLE_NAME && change.role === NODE_ROLE_NAME
        ? "undo"
        : notOurs(`role ${change.role} in instance profile ${change.profile}`);
    case "TrustPolicy":
      return change.role in ROLE_TRUST
        ? checkTrust(change.role, change.previousDocument, ctx)
        : notOurs(`role ${change.role}`);
    case "PolicyVersion":
      return checkPolicyVersion(change.arn, change.versionId, ctx);
    // What adopting a foreign resource took from it: given back to the product's own resources only.
    case "RolePolicyDetachment":
      return change.role in ROLE_TRUST ? "undo" : notOurs(`role ${change.role}`);
    case "UserPolicyDetachment":
      return change.user === USER_NAME ? "undo" : notOurs(`user ${change.user}`);
    case "InstanceProfileRoleRemoval":
      return change.profile === NODE_ROLE_NAME ? "undo" : notOurs(`instance profile ${change.profile}`);
    case "SecretValue":
    case "SecretPolicy":
    case "SecretTag":
      return checkAccountSecret(change.arn, ctx);
    case "LoginProfilePassword":
      return refused(
        `the console password of user ${change.user} was reset when it was adopted; the one before cannot be given back`,
      );
  }
}

/** The account's own credentials secret, by ARN: an adopted one carries no tag of this run. */
async function checkAccountSecret(arn: string, ctx: CheckContext): Promise<Verdict> {
  const name = secretName(ctx.config, ctx.accountId);
  const got = await ctx.rec.read("DescribeSecret", name, () =>
    ctx.secrets.send(new DescribeSecretCommand({ SecretId: name })),
  );
  if (got?.ARN === undefined) return "gone";
  return got.ARN === arn ? "undo" : notOurs(`secret ${arn}`);
}

type Tags = { Key?: string | undefined; Value?: string | undefined }[] | undefined;

const tagVerdict = (what: string, found: boolean, tags: Tags, rec: StepRecorder): Verdict =>
  !found ? "gone" : rec.createdByThisRun(tags) ? "undo" : untagged(what);

async function checkPolicy(arn: string, ctx: CheckContext): Promise<Verdict> {
  if (!productPolicies(ctx).includes(arn)) return notOurs(`policy ${arn}`);
  const got = await ctx.rec.read("GetPolicy", arn, () =>
    ctx.iam.send(new GetPolicyCommand({ PolicyArn: arn })),
  );
  return tagVerdict(`policy ${arn}`, got?.Policy !== undefined, got?.Policy?.Tags, ctx.rec);
}

async function checkRole(name: string, ctx: CheckContext): Promise<Verdict> {
  const got = await ctx.rec.read("GetRole", name, () => ctx.iam.send(new GetRoleCommand({ RoleName: name })));
  return tagVerdict(`role ${name}`, got?.Role !== undefined, got?.Role?.Tags, ctx.rec);
}

async function checkInstanceProfile(name: string, ctx: CheckContext): Promise<Verdict> {
  const got = await ctx.rec.read("GetInstanceProfile", name, () =>
    ctx.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })),
  );
  const profile = got?.InstanceProfile;
  return tagVerdict(`instance profile ${name}`, profile !== undefined, profile?.Tags, ctx.rec);
}

async function checkUser(name: string, ctx: CheckContext): Promise<Verdict> {
  const got = await ctx.rec.read("GetUser", name, () => ctx.iam.send(new GetUserCommand({ UserName: name })));
  return tagVerdict(`user ${name}`, got?.User !== undefined, got?.User?.Tags, ctx.rec);
}

/** The account's own credentials secret, by ARN, still tagged with this execution. */
async function checkSecret(arn: string, ctx: CheckContext): Promise<Verdict> {
  const name = secretName(ctx.config, ctx.accountId);
  const got = await ctx.rec.read("DescribeSecret", name, () =>
    ctx.secrets.send(new DescribeSecretCommand({ SecretId: name })),
  );
  if (got?.ARN === undefined) return "gone";
  if (got.ARN !== arn) return notOurs(`secret ${arn}`);
  return tagVerdict(`secret ${name}`, true, got.Tags, ctx.rec);
}

/** Restored only while the role trusts exactly what this run set (the shipped trust policy). */
async function checkTrust(role: string, previous: string, ctx: CheckContext): Promise<Verdict> {
  const got = await ctx.rec.read("GetRole", role, () => ctx.iam.send(new GetRoleCommand({ RoleName: role })));
  if (!got?.Role) return "gone";
  const current = decodePolicyDocument(got.Role.AssumeRolePolicyDocument ?? "{}");
  // Recorded before it was made, and never made (the run stopped in between): nothing to undo.
  if (samePolicy(current, decodePolicyDocument(previous))) return "gone";
  return samePolicy(current, ROLE_TRUST[role])
    ? "undo"
    : refused(`the trust policy of role ${role} was changed after this execution set it`);
}

/** Restored only while this run's version is still the default one. */
async function checkPolicyVersion(arn: string, versionId: string, ctx: CheckContext): Promise<Verdict> {
  if (!productPolicies(ctx).includes(arn)) return notOurs(`policy ${arn}`);
  const listed = await ctx.rec.read("ListPolicyVersions", arn, () =>
    ctx.iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn })),
  );
  const version = listed?.Versions?.find((v) => v.VersionId === versionId);
  // Gone: whoever deleted it chose another default, which must stay.
  if (!version) return "gone";
  return version.IsDefaultVersion
    ? "undo"
    : refused(`version ${versionId} of policy ${arn} is no longer the default one`);
}
