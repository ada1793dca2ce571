import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  DeletePolicyVersionCommand,
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  type IAMClient,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListPolicyVersionsCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
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
 * Makes the managed policy exist with `document` as its default version. A drifted default gets
 * a new version (the oldest non-default one is deleted first when IAM's five are in use).
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
    const made = await rec.create("CreatePolicy", spec.arn, () =>
      iam.send(
        new CreatePolicyCommand({
          PolicyName: spec.name,
          PolicyDocument: JSON.stringify(spec.document),
          Description: spec.description,
          Tags: rec.tags,
        }),
      ),
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
    return;
  }
  await pruneOldestVersion(iam, spec.arn, rec);
  const made = await rec.change("CreatePolicyVersion", spec.arn, () =>
    iam.send(
      new CreatePolicyVersionCommand({
        PolicyArn: spec.arn,
        PolicyDocument: JSON.stringify(spec.document),
        SetAsDefault: true,
      }),
    ),
  );
  if (rec.createdByThisRun(policy.Tags)) await rec.record({ type: "Policy", arn: spec.arn });
  await rec.record({
    type: "PolicyVersion",
    arn: spec.arn,
    versionId: made.PolicyVersion?.VersionId ?? "",
    previousDefaultVersionId: defaultVersionId,
  });
}

async function pruneOldestVersion(iam: IAMClient, arn: string, rec: StepRecorder) {
  const listed = await rec.call("ListPolicyVersions", arn, () =>
    iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn })),
  );
  const versions = listed.Versions ?? [];
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
}

/** Makes the role exist with exactly `trust` as its trust policy; answers its ARN. */
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
    const made = await rec.create("CreateRole", spec.name, () =>
      iam.send(
        new CreateRoleCommand({
          RoleName: spec.name,
          AssumeRolePolicyDocument: JSON.stringify(spec.trust),
          Description: spec.description,
          Tags: rec.tags,
        }),
      ),
    );
    if (!made?.Role) {
      if (raced) throw lostRace(rec, spec.name);
      return ensureRole(iam, spec, rec, true);
    }
    await rec.record({ type: "Role", name: spec.name });
    return made.Role.Arn ?? "";
  }
  await rec.existing(`role ${spec.name}`, role.Tags, { type: "Role", name: spec.name });
  const current = decodePolicyDocument(role.AssumeRolePolicyDocument ?? "{}");
  if (!samePolicy(current, spec.trust)) {
    await rec.change("UpdateAssumeRolePolicy", spec.name, () =>
      iam.send(
        new UpdateAssumeRolePolicyCommand({
          RoleName: spec.name,
          PolicyDocument: JSON.stringify(spec.trust),
        }),
      ),
    );
    await rec.record({ type: "TrustPolicy", role: spec.name, previousDocument: JSON.stringify(current) });
  }
  return role.Arn ?? "";
}

export async function ensureRolePolicyAttached(
  iam: IAMClient,
  role: string,
  policyArn: string,
  rec: StepRecorder,
) {
  const attached = await rec.call("ListAttachedRolePolicies", role, () =>
    iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role, MaxItems: 1000 })),
  );
  if ((attached.AttachedPolicies ?? []).some((p) => p.PolicyArn === policyArn)) {
    rec.markFound(`attachment ${policyArn} to role ${role}`);
    return;
  }
  await rec.change("AttachRolePolicy", `${policyArn} to role ${role}`, () =>
    iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn })),
  );
  await rec.record({ type: "RolePolicyAttachment", role, policyArn });
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
  await rec.change("AttachUserPolicy", `${policyArn} to user ${user}`, () =>
    iam.send(new AttachUserPolicyCommand({ UserName: user, PolicyArn: policyArn })),
  );
  await rec.record({ type: "UserPolicyAttachment", user, policyArn });
}

/**
 * The console makes an instance profile of the same name for every EC2 role; the API does not,
 * and Redis launches its instances with it. A profile holds at most one role.
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
    const made = await rec.create("CreateInstanceProfile", name, () =>
      iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Tags: rec.tags })),
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
  const roles = (profile.Roles ?? []).map((r) => r.RoleName);
  if (roles.includes(role)) {
    rec.markFound(`role ${role} in instance profile ${name}`);
    return profile.Arn ?? "";
  }
  if (roles.length > 0) {
    throw new WorkflowError(
      "ResourceConflict",
      `${rec.step}: instance profile ${name} already holds role ${roles.join(", ")}; remove it so that it can hold ${role}`,
    );
  }
  await rec.change("AddRoleToInstanceProfile", `${role} to ${name}`, () =>
    iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: role })),
  );
  await rec.record({ type: "InstanceProfileRole", profile: name, role });
  return profile.Arn ?? "";
}

/** Created by someone else yet not readable: IAM is still converging, so a retry will see it. */
export function lostRace(rec: StepRecorder, resource: string): WorkflowError {
  return new WorkflowError(
    "ConcurrentModification",
    `${rec.step}: ${resource} exists but cannot be read yet`,
  );
}
