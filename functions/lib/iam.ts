import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  DeletePolicyVersionCommand,
  DetachRolePolicyCommand,
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  type IAMClient,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListPolicyVersionsCommand,
  ListRolePoliciesCommand,
  type PolicyVersion,
  RemoveRoleFromInstanceProfileCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateLoginProfileCommand,
} from "@aws-sdk/client-iam";
import { USER_NAME } from "./config.ts";
import { WorkflowError } from "./errors.ts";
import { decodePolicyDocument, samePolicy } from "./policies.ts";
import type { StepRecorder } from "./step.ts";

/** IAM keeps at most five versions of a managed policy. */
const MAX_POLICY_VERSIONS = 5;

export interface ManagedPolicySpec {
  arn: string;
  name: string;
  description: string;
  document: unknown;
}

/**
 * Makes the managed policy exist with `document` as its default version. One that is found with
 * another default is changed only when it is the product's (a new version; the oldest non-default
 * one deleted first when IAM's five are in use) or adopted; a foreign one with five versions is
 * never adopted, since a new version would delete one for good.
 */
export async function ensureManagedPolicy(
  iam: IAMClient,
  spec: ManagedPolicySpec,
  rec: StepRecorder,
  raced = false,
): Promise<void> {
  const existing = await rec.read("GetPolicy", spec.arn, () =>
    iam.send(new GetPolicyCommand({ PolicyArn: spec.arn })),
  );
  if (!existing?.Policy) {
    const made = await rec.create(
      "CreatePolicy",
      spec.arn,
      () =>
        iam.send(
          new CreatePolicyCommand({
            PolicyName: spec.name,
            PolicyDocument: JSON.stringify(spec.document),
            Description: spec.description,
            Tags: rec.tags,
          }),
        ),
      { simulate: () => ({ Policy: { Arn: spec.arn } }), after: spec.document },
    );
    if (made?.Policy) {
      await rec.record({ type: "Policy", arn: spec.arn });
      return;
    }
    // A concurrent run created it between our read and our create: reconcile what it made.
    if (raced) throw lostRace(rec, spec.arn);
    return ensureManagedPolicy(iam, spec, rec, true);
  }
  const policy = existing.Policy;
  const defaultVersionId = policy.DefaultVersionId ?? "v1";
  const version = await rec.call("GetPolicyVersion", spec.arn, () =>
    iam.send(new GetPolicyVersionCommand({ PolicyArn: spec.arn, VersionId: defaultVersionId })),
  );
  const current = decodePolicyDocument(version.PolicyVersion?.Document ?? "{}");
  if (samePolicy(current, spec.document)) {
    await rec.existing(`policy ${spec.arn}`, policy.Tags, { type: "Policy", arn: spec.arn });
    // Adopted by this run, whose new version went in but whose record did not (a crash between
    // the two): the version is recorded now, from the default the adoption found.
    const prior = rec.ownership.priorOf({ type: "Policy", arn: spec.arn }, rec.execution)?.defaultVersionId;
    if (typeof prior === "string" && prior !== defaultVersionId) {
      await rec.record({
        type: "PolicyVersion",
        arn: spec.arn,
        versionId: defaultVersionId,
        previousDefaultVersionId: prior,
      });
    }
    return;
  }
  const madeByThisRun = rec.createdByThisRun(policy.Tags);
  const versions = await listVersions(iam, spec.arn, rec);
  if (!madeByThisRun && !rec.owns({ type: "Policy", arn: spec.arn })) {
    const full = versions.length >= MAX_POLICY_VERSIONS;
    await rec.foreign(
      {
        resource: `policy ${spec.arn}`,
        differences: [`its default version ${defaultVersionId} is not the document Redis requires`],
        ...(full
          ? {
              blocking: `it has IAM's ${MAX_POLICY_VERSIONS} versions, and a new one would delete one for good`,
            }
          : {}),
      },
      { change: { type: "Policy", arn: spec.arn }, prior: { defaultVersionId } },
    );
  }
  await pruneOldestVersion(iam, spec.arn, versions, rec);
  const made = await rec.change(
    "CreatePolicyVersion",
    spec.arn,
    () =>
      iam.send(
        new CreatePolicyVersionCommand({
          PolicyArn: spec.arn,
          PolicyDocument: JSON.stringify(spec.document),
          SetAsDefault: true,
        }),
      ),
    {
      simulate: () => ({ PolicyVersion: { VersionId: "(new version)" } }),
      before: current,
      after: spec.document,
    },
  );
  if (madeByThisRun) await rec.record({ type: "Policy", arn: spec.arn });
  await rec.record({
    type: "PolicyVersion",
    arn: spec.arn,
    versionId: made.PolicyVersion?.VersionId ?? "",
    previousDefaultVersionId: defaultVersionId,
  });
}

async function listVersions(iam: IAMClient, arn: string, rec: StepRecorder) {
  const listed = await rec.call("ListPolicyVersions", arn, () =>
    iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn })),
  );
  return listed.Versions ?? [];
}

/** Only on the product's own policy (a foreign one with five versions is never adopted). */
async function pruneOldestVersion(iam: IAMClient, arn: string, versions: PolicyVersion[], rec: StepRecorder) {
  if (versions.length < MAX_POLICY_VERSIONS) return;
  const oldest = versions
    .filter((v) => !v.IsDefaultVersion)
    .sort((a, b) => (a.CreateDate?.getTime() ?? 0) - (b.CreateDate?.getTime() ?? 0))[0];
  if (!oldest?.VersionId) return;
  const versionId = oldest.VersionId;
  await rec.delete("DeletePolicyVersion", `${arn} ${versionId}`, () =>
    iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: versionId })),
  );
}

export interface RoleSpec {
  name: string;
  description: string;
  trust: unknown;
  /** The one managed policy the role carries. */
  policyArn: string;
}

/**
 * Makes the role exist with exactly `trust` as its trust policy and `policyArn` as its only
 * policy; answers its ARN. A role that is not the product's and differs (another trust, other
 * policies) is foreign; one with inline policies is never adopted (they would be lost).
 */
export async function ensureRole(
  iam: IAMClient,
  spec: RoleSpec,
  rec: StepRecorder,
  raced = false,
): Promise<string> {
  const existing = await rec.read("GetRole", spec.name, () =>
    iam.send(new GetRoleCommand({ RoleName: spec.name })),
  );
  const role = existing?.Role;
  if (!role) {
    const made = await rec.create(
      "CreateRole",
      spec.name,
      () =>
        iam.send(
          new CreateRoleCommand({
            RoleName: spec.name,
            AssumeRolePolicyDocument: JSON.stringify(spec.trust),
            Description: spec.description,
            Tags: rec.tags,
          }),
        ),
      { simulate: () => ({ Role: { Arn: `(new role ${spec.name})` } }), after: spec.trust },
    );
    if (!made?.Role) {
      if (raced) throw lostRace(rec, spec.name);
      return ensureRole(iam, spec, rec, true);
    }
    await rec.record({ type: "Role", name: spec.name });
    await attachRolePolicy(iam, spec.name, spec.policyArn, rec);
    return made.Role.Arn ?? "";
  }
  await rec.existing(`role ${spec.name}`, role.Tags, { type: "Role", name: spec.name });
  const current = decodePolicyDocument(role.AssumeRolePolicyDocument ?? "{}");
  const attached = await attachedRolePolicies(iam, spec.name, rec);
  const extra = attached.filter((arn) => arn !== spec.policyArn);
  const ours = rec.createdByThisRun(role.Tags) || rec.owns({ type: "Role", name: spec.name });
  const trustDiffers = !samePolicy(current, spec.trust);
  const differences = [
    ...(trustDiffers && !ours
      ? [`its trust policy is not the one Redis requires: ${JSON.stringify(current)}`]
      : []),
    ...(extra.length > 0 && !ours ? [`it has other policies attached: ${extra.join(", ")}`] : []),
  ];
  if (differences.length > 0) {
    const inline = await inlineRolePolicies(iam, spec.name, rec);
    await rec.foreign(
      {
        resource: `role ${spec.name}`,
        differences,
        ...(inline.length > 0
          ? { blocking: `it has inline policies (${inline.join(", ")}), which would be lost` }
          : {}),
      },
      { change: { type: "Role", name: spec.name }, prior: { trust: current, attached } },
    );
  }
  // Each change is recorded before it is made: a crash between the two leaves a record of a
  // change that may not have happened, which the rollback finds undone already, never the reverse.
  if (trustDiffers) {
    await rec.record({ type: "TrustPolicy", role: spec.name, previousDocument: JSON.stringify(current) });
    await rec.change(
      "UpdateAssumeRolePolicy",
      spec.name,
      () =>
        iam.send(
          new UpdateAssumeRolePolicyCommand({
            RoleName: spec.name,
            PolicyDocument: JSON.stringify(spec.trust),
          }),
        ),
      { before: current, after: spec.trust },
    );
  }
  for (const policyArn of extra) {
    await rec.record({ type: "RolePolicyDetachment", role: spec.name, policyArn });
    await rec.change("DetachRolePolicy", `${policyArn} from role ${spec.name}`, () =>
      iam.send(new DetachRolePolicyCommand({ RoleName: spec.name, PolicyArn: policyArn })),
    );
  }
  if (attached.includes(spec.policyArn)) rec.markFound(`attachment ${spec.policyArn} to role ${spec.name}`);
  else await attachRolePolicy(iam, spec.name, spec.policyArn, rec);
  return role.Arn ?? "";
}

async function attachedRolePolicies(iam: IAMClient, role: string, rec: StepRecorder): Promise<string[]> {
  const attached = await rec.call("ListAttachedRolePolicies", role, () =>
    iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role, MaxItems: 1000 })),
  );
  return (attached.AttachedPolicies ?? []).flatMap((p) => (p.PolicyArn ? [p.PolicyArn] : []));
}

async function inlineRolePolicies(iam: IAMClient, role: string, rec: StepRecorder): Promise<string[]> {
  const listed = await rec.call("ListRolePolicies", role, () =>
    iam.send(new ListRolePoliciesCommand({ RoleName: role, MaxItems: 1000 })),
  );
  return listed.PolicyNames ?? [];
}

async function attachRolePolicy(iam: IAMClient, role: string, policyArn: string, rec: StepRecorder) {
  await rec.record({ type: "RolePolicyAttachment", role, policyArn });
  await rec.change("AttachRolePolicy", `${policyArn} to role ${role}`, () =>
    iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn })),
  );
}

export async function ensureUserPolicyAttached(
  iam: IAMClient,
  user: string,
  policyArn: string,
  rec: StepRecorder,
) {
  const attached = await rec.call("ListAttachedUserPolicies", user, () =>
    iam.send(new ListAttachedUserPoliciesCommand({ UserName: user, MaxItems: 1000 })),
  );
  if ((attached.AttachedPolicies ?? []).some((p) => p.PolicyArn === policyArn)) {
    rec.markFound(`attachment ${policyArn} to user ${user}`);
    return;
  }
  await rec.record({ type: "UserPolicyAttachment", user, policyArn });
  await rec.change("AttachUserPolicy", `${policyArn} to user ${user}`, () =>
    iam.send(new AttachUserPolicyCommand({ UserName: user, PolicyArn: policyArn })),
  );
}

/**
 * The console makes an instance profile of the same name for every EC2 role; the API does not,
 * and Redis launches its instances with it. A profile holds at most one role: one holding another
 * is foreign, and adopting it takes that role out (given back if the run fails).
 */
export async function ensureInstanceProfile(
  iam: IAMClient,
  name: string,
  role: string,
  rec: StepRecorder,
  raced = false,
): Promise<string> {
  let profile = (
    await rec.read("GetInstanceProfile", name, () =>
      iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })),
    )
  )?.InstanceProfile;
  if (!profile) {
    const made = await rec.create(
      "CreateInstanceProfile",
      name,
      () => iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Tags: rec.tags })),
      { simulate: () => ({ InstanceProfile: { Arn: `(new instance profile ${name})`, Roles: [] } }) },
    );
    if (!made?.InstanceProfile) {
      if (raced) throw lostRace(rec, name);
      return ensureInstanceProfile(iam, name, role, rec, true);
    }
    await rec.record({ type: "InstanceProfile", name });
    profile = made.InstanceProfile;
  } else {
    await rec.existing(`instance profile ${name}`, profile.Tags, { type: "InstanceProfile", name });
  }
  const roles = (profile.Roles ?? []).flatMap((r) => (r.RoleName ? [r.RoleName] : []));
  if (roles.includes(role)) {
    rec.markFound(`role ${role} in instance profile ${name}`);
    return profile.Arn ?? "";
  }
  for (const other of roles) {
    await rec.foreign(
      { resource: `instance profile ${name}`, differences: [`it holds role ${other}`] },
      { change: { type: "InstanceProfile", name }, prior: { roles } },
    );
    await rec.record({ type: "InstanceProfileRoleRemoval", profile: name, role: other });
    await rec.change("RemoveRoleFromInstanceProfile", `${other} from ${name}`, () =>
      iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: other })),
    );
  }
  await rec.record({ type: "InstanceProfileRole", profile: name, role });
  await rec.change("AddRoleToInstanceProfile", `${role} to ${name}`, () =>
    iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: role })),
  );
  return profile.Arn ?? "";
}

/** Created by someone else yet not readable: IAM is still converging, so a retry will see it. */
export function lostRace(rec: StepRecorder, resource: string): WorkflowError {
  return new WorkflowError(
    "ConcurrentModification",
    `${rec.step}: ${resource} exists but cannot be read yet`,
  );
}

/**
 * Sets redislabs-user's console password, with no reset at the next sign-in: Redis signs in with
 * the password it is given, and a forced reset would lock it out.
 */
export function setConsolePassword(iam: IAMClient, password: string, rec: StepRecorder): Promise<unknown> {
  return rec.change("UpdateLoginProfile", USER_NAME, () =>
    iam.send(
      new UpdateLoginProfileCommand({
        UserName: USER_NAME,
        Password: password,
        PasswordResetRequired: false,
      }),
    ),
  );
}
