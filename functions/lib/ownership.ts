import { WorkflowError } from "./errors.ts";
import type { RegistryItem } from "./registry.ts";
import type { Change } from "./step.ts";

/*
 * What the product may change in an account. A resource the registry says the product made (or
 * adopted) is its own: it is kept as Redis requires. One that exists exactly as required is
 * found: used, never changed. Any other is foreign: the run stops before its first write, unless
 * the input says `"adopt": true`, in which case its state before is recorded first, so that a
 * failed run (and an offboarding) gives it back.
 */

/** A resource that exists, differs from what Redis requires, and is not the product's. */
export interface Finding {
  /** What it is, as the errors and the plan name it: `role redislabs-role`. */
  resource: string;
  /** What differs, in words, without any secret. */
  differences: string[];
  /** Why even adopting it is refused (it would destroy something for good): set, the run stops. */
  blocking?: string;
  /** What an adoption changes that a rollback cannot give back (a password). */
  unrestorable?: string[];
}

/** The resource a change is about, as ownership is decided: one name per IAM entity or secret. */
export function identityOf(change: Change): string {
  switch (change.type) {
    case "Policy":
    case "PolicyVersion":
      return `policy ${change.arn}`;
    case "Role":
      return `role ${change.name}`;
    case "TrustPolicy":
    case "RolePolicyAttachment":
    case "RolePolicyDetachment":
      return `role ${change.role}`;
    case "InstanceProfile":
      return `instance profile ${change.name}`;
    case "InstanceProfileRole":
    case "InstanceProfileRoleRemoval":
      return `instance profile ${change.profile}`;
    case "User":
      return `user ${change.name}`;
    case "UserPolicyAttachment":
    case "UserPolicyDetachment":
    case "LoginProfilePassword":
      return `user ${change.user}`;
    case "LoginProfile":
      return `login profile of ${change.user}`;
    case "AccessKey":
      return `access key ${change.accessKeyId}`;
    case "Secret":
    case "SecretValue":
    case "SecretPolicy":
    case "SecretTag":
      return `secret ${change.arn}`;
  }
}

/** Records that make a resource the product's: it made it, or took it over. */
const OWNING = new Set<Change["type"]>([
  "Policy",
  "Role",
  "InstanceProfile",
  "User",
  "LoginProfile",
  "AccessKey",
  "Secret",
]);

export class Ownership {
  private readonly owned = new Set<string>();
  /** What each execution's adoptions recorded as the state before, by resource. */
  private readonly priors = new Map<string, string>();
  /** Access keys Redis uses or was asked to use: never deleted while it may. */
  readonly redisKeys: ReadonlySet<string>;

  constructor(
    item: RegistryItem | undefined,
    readonly adopt: boolean,
  ) {
    for (const entry of item?.resources ?? []) {
      if (OWNING.has(entry.change.type)) this.owned.add(identityOf(entry.change));
      if (entry.origin === "adopted" && entry.prior !== undefined) {
        this.priors.set(`${entry.execution}|${identityOf(entry.change)}`, entry.prior);
      }
    }
    const registration = item?.registration;
    const asked =
      registration && (registration.cloudAccountId !== undefined || registration.taskId !== undefined);
    this.redisKeys = new Set(
      [item?.accessKeyId, asked ? registration.accessKeyId : undefined].filter(
        (id): id is string => id !== undefined,
      ),
    );
  }

  /** The state before that `execution` recorded when it adopted the resource, if it did. */
  priorOf(change: Change, execution: string): Record<string, unknown> | undefined {
    const prior = this.priors.get(`${execution}|${identityOf(change)}`);
    if (prior === undefined) return undefined;
    const parsed: unknown = JSON.parse(prior);
    return parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : undefined;
  }

  /** Whether the registry says the product made (or adopted) the resource this change is about. */
  owns(change: Change): boolean {
    return this.owned.has(identityOf(change));
  }
}

/** Nothing is owned and nothing adopted: a recorder without a registry (unit tests, reads). */
export const NO_OWNERSHIP = new Ownership(undefined, false);

/** The run's stop before its first write: every foreign resource, and what differs in each. */
export function foreignResource(step: string, findings: readonly Finding[]): WorkflowError {
  const listed = findings
    .map((f) => `${f.resource} (${[...f.differences, ...(f.blocking ? [f.blocking] : [])].join("; ")})`)
    .join(", ");
  const blocked = findings.some((f) => f.blocking);
  const how = blocked
    ? "change these by hand: adopting them would destroy what cannot be given back"
    : 'make them as Redis requires, delete them, or run again with "adopt": true to take them over (their state before is recorded and given back if the run fails)';
  return new WorkflowError(
    "ForeignResource",
    `${step}: found resources this product did not make that differ from what Redis requires: ${listed}. Nothing was changed: ${how}`,
  );
}
