import * as z from "zod";
import type { Finding } from "./ownership.ts";
import type { PlannedWrite } from "./step.ts";

/*
 * Drift: how an onboarded account differs from what the product left there. Each difference has a
 * stable kind (the event's consumers and the registry's readers match on it), the resource it is
 * about, and a detail for people. Ids and names only, never a secret.
 */

export const DRIFT_KINDS = [
  /** A managed policy's default version is not the shipped document (hand edit, or a new release). */
  "PolicyDocumentChanged",
  "PolicyMissing",
  "TrustPolicyChanged",
  "RoleMissing",
  /** A policy is no longer attached to the role or user Redis uses. */
  "AttachmentMissing",
  /** Another policy was attached to the product's role or user. */
  "AttachmentAdded",
  "InstanceProfileMissing",
  "InstanceProfileChanged",
  "UserMissing",
  "ConsolePasswordMissing",
  /** The key Redis uses was deleted. */
  "AccessKeyMissing",
  /** The key Redis uses was deactivated. */
  "AccessKeyInactive",
  "CredentialsSecretChanged",
  /** A resource of Redis's procedure that someone else made, and that differs: never repaired. */
  "ForeignResource",
  /** Redis says the cloud account is not `active`, or no longer lists it. */
  "CloudAccountNotActive",
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

export const DriftSchema = z.object({
  kind: z.enum(DRIFT_KINDS),
  resource: z.string().min(1),
  detail: z.string(),
});
export type Drift = z.output<typeof DriftSchema>;

/** What each write a run would make says about the account, by the write's operation. */
const KIND_OF_WRITE: Record<string, { kind: DriftKind; detail: string } | null> = {
  CreatePolicyVersion: {
    kind: "PolicyDocumentChanged",
    detail: "its default version differs from the shipped document",
  },
  CreatePolicy: { kind: "PolicyMissing", detail: "the policy was deleted" },
  UpdateAssumeRolePolicy: {
    kind: "TrustPolicyChanged",
    detail: "its trust policy differs from the shipped one",
  },
  CreateRole: { kind: "RoleMissing", detail: "the role was deleted" },
  AttachRolePolicy: { kind: "AttachmentMissing", detail: "the policy is no longer attached" },
  AttachUserPolicy: { kind: "AttachmentMissing", detail: "the policy is no longer attached" },
  DetachRolePolicy: { kind: "AttachmentAdded", detail: "another policy was attached" },
  DetachUserPolicy: { kind: "AttachmentAdded", detail: "another policy was attached" },
  CreateInstanceProfile: { kind: "InstanceProfileMissing", detail: "the instance profile was deleted" },
  AddRoleToInstanceProfile: {
    kind: "InstanceProfileMissing",
    detail: "the role is not in its instance profile",
  },
  RemoveRoleFromInstanceProfile: {
    kind: "InstanceProfileChanged",
    detail: "the instance profile holds another role",
  },
  CreateUser: { kind: "UserMissing", detail: "the user was deleted" },
  CreateLoginProfile: { kind: "ConsolePasswordMissing", detail: "the console password was removed" },
  UpdateLoginProfile: { kind: "ConsolePasswordMissing", detail: "the stored console password is unknown" },
  CreateAccessKey: { kind: "AccessKeyMissing", detail: "the stored access key is not on the user" },
  CreateSecret: { kind: "CredentialsSecretChanged", detail: "the credentials secret is gone" },
  PutSecretValue: { kind: "CredentialsSecretChanged", detail: "the credentials secret would be rewritten" },
  PutResourcePolicy: {
    kind: "CredentialsSecretChanged",
    detail: "the secret's resource policy differs from the product's",
  },
  // Consequences of another difference, already named by it.
  DeletePolicyVersion: null,
  DeleteAccessKey: null,
  TagResource: null,
};

/**
 * The differences a plan found: each write a run would make names one, once per kind and
 * resource; each foreign resource is one too (the run would refuse or adopt it, never repair it).
 */
export function driftOfPlan(writes: readonly PlannedWrite[], foreign: readonly Finding[]): Drift[] {
  const found: Drift[] = [];
  for (const write of writes) {
    const known = KIND_OF_WRITE[write.operation];
    if (known === null) continue;
    const { kind, detail } = known ?? { kind: "ForeignResource" as const, detail: write.operation };
    found.push({ kind, resource: write.resource, detail });
  }
  for (const finding of foreign) {
    found.push({
      kind: "ForeignResource",
      resource: finding.resource,
      detail: finding.differences.join("; "),
    });
  }
  return unique(found);
}

export function unique(drift: readonly Drift[]): Drift[] {
  const seen = new Set<string>();
  return drift.filter((d) => {
    const id = `${d.kind}|${d.resource}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
