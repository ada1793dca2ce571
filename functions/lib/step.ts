import { describeAwsFailure } from "./errors.ts";

/** The validated target of an onboarding, as the ValidateInput state outputs it. */
export interface Target {
  accountId: string;
  roleName: string;
  accountName: string;
}

/** What every IAM step receives from the state machine. */
export interface StepInput {
  target: Target;
  /** The execution's name: it goes into tags and the STS session name. */
  execution: string;
}

/**
 * One thing a step changed, with what a rollback needs to undo it. Steps record only what this
 * execution did, so that a compensation never touches what existed before the run.
 */
export type Change =
  | { type: "Policy"; arn: string }
  | { type: "PolicyVersion"; arn: string; versionId: string; previousDefaultVersionId: string }
  | { type: "Role"; name: string }
  | { type: "TrustPolicy"; role: string; previousDocument: string }
  | { type: "RolePolicyAttachment"; role: string; policyArn: string }
  | { type: "InstanceProfile"; name: string }
  | { type: "InstanceProfileRole"; profile: string; role: string }
  | { type: "User"; name: string }
  | { type: "UserPolicyAttachment"; user: string; policyArn: string }
  | { type: "LoginProfile"; user: string }
  | { type: "AccessKey"; user: string; accessKeyId: string }
  | { type: "Secret"; arn: string };

export interface StepReport {
  /** What this execution changed, in order. */
  changes: Change[];
  /** Resources that were already in the desired state. */
  found: string[];
}

export const MANAGED_BY_TAG = "ManagedBy";
export const MANAGED_BY_VALUE = "redis-cloud-byoc-onboarding";
export const EXECUTION_TAG = "redis-cloud-byoc:execution";

export interface Tag {
  Key?: string | undefined;
  Value?: string | undefined;
}

/**
 * Records what a step does and wraps each AWS call so that a failure names the step, the
 * operation and the resource.
 */
export class StepRecorder {
  readonly changes: Change[] = [];
  readonly found: string[] = [];

  constructor(
    readonly step: string,
    readonly execution: string,
  ) {}

  get tags(): { Key: string; Value: string }[] {
    return [
      { Key: MANAGED_BY_TAG, Value: MANAGED_BY_VALUE },
      { Key: EXECUTION_TAG, Value: this.execution },
    ];
  }

  /** A resource tagged by this execution was made by an earlier attempt of this very run. */
  createdByThisRun(tags: Tag[] | undefined): boolean {
    return (tags ?? []).some((tag) => tag.Key === EXECUTION_TAG && tag.Value === this.execution);
  }

  record(change: Change): void {
    this.changes.push(change);
  }

  /** An existing resource: made earlier in this run (still ours to undo) or found. */
  existing(resource: string, tags: Tag[] | undefined, change: Change): void {
    if (this.createdByThisRun(tags)) this.changes.push(change);
    else this.found.push(resource);
  }

  async call<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw describeAwsFailure(this.step, operation, resource, error);
    }
  }

  /** A read that answers undefined when the entity does not exist. */
  read<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T | undefined> {
    return this.call(operation, resource, () => tolerate(send, isNotFound));
  }

  /** A create that answers undefined when a concurrent run made the entity first. */
  create<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T | undefined> {
    return this.call(operation, resource, () => tolerate(send, isAlreadyExists));
  }

  report(): StepReport {
    return { changes: this.changes, found: this.found };
  }
}

async function tolerate<T>(send: () => Promise<T>, expected: (error: unknown) => boolean) {
  try {
    return await send();
  } catch (error) {
    if (expected(error)) return undefined;
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  return (
    error instanceof Error &&
    ["NoSuchEntityException", "NoSuchEntity", "ResourceNotFoundException"].includes(error.name)
  );
}

export function isAlreadyExists(error: unknown): boolean {
  return (
    error instanceof Error &&
    ["EntityAlreadyExistsException", "EntityAlreadyExists", "ResourceExistsException"].includes(error.name)
  );
}
