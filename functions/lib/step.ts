import * as z from "zod";
import { describeAwsFailure } from "./errors.ts";

export const ACCOUNT_ID = /^\d{12}$/;
export const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/** The validated target of an onboarding, as the ValidateInput state outputs it. */
export const TargetSchema = z.object(
  {
    accountId: z.string().regex(ACCOUNT_ID, "must be a 12-digit account id"),
    roleName: z.string().regex(ROLE_NAME, "must be an IAM role name"),
    accountName: z.string().default(""),
  },
  { error: "is required (run the ValidateInput state first)" },
);
export type Target = z.output<typeof TargetSchema>;

/**
 * What every step receives from the state machine. The state's other fields (earlier steps'
 * outputs) pass through to the steps that declare them.
 */
export const StepInputSchema = z.looseObject({
  target: TargetSchema,
  /** The execution's name: it goes into tags and the STS session name. */
  execution: z
    .string({ error: "is required (the execution's name)" })
    .min(1, "is required (the execution's name)"),
});
export type StepInput = { target: Target; execution: string };

const text = z.string().min(1);

/**
 * One thing a step changed, with what a rollback needs to undo it. Steps record only what this
 * execution did, so that a compensation never touches what existed before the run.
 */
export const ChangeSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("Policy"), arn: text }),
  z.object({ type: z.literal("PolicyVersion"), arn: text, versionId: text, previousDefaultVersionId: text }),
  z.object({ type: z.literal("Role"), name: text }),
  z.object({ type: z.literal("TrustPolicy"), role: text, previousDocument: text }),
  z.object({ type: z.literal("RolePolicyAttachment"), role: text, policyArn: text }),
  z.object({ type: z.literal("InstanceProfile"), name: text }),
  z.object({ type: z.literal("InstanceProfileRole"), profile: text, role: text }),
  z.object({ type: z.literal("User"), name: text }),
  z.object({ type: z.literal("UserPolicyAttachment"), user: text, policyArn: text }),
  z.object({ type: z.literal("LoginProfile"), user: text }),
  z.object({ type: z.literal("AccessKey"), user: text, accessKeyId: text }),
  z.object({ type: z.literal("Secret"), arn: text }),
]);
export type Change = z.output<typeof ChangeSchema>;

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

/** One AWS call a step made, by what it did: plan mode and the proofs read these. */
export interface Operation {
  kind: "read" | "create" | "change" | "delete";
  operation: string;
  resource: string;
}

/**
 * Records what a step does and wraps each AWS call so that a failure names the step, the
 * operation and the resource. Each call says what it is (a read, a create, a change, a delete),
 * so that the record of a run says what it did, not merely what it asked.
 */
export class StepRecorder {
  private readonly changed: Change[] = [];
  private readonly seen: string[] = [];
  private readonly log: Operation[] = [];

  constructor(
    readonly step: string,
    readonly execution: string,
    /**
     * Keeps each change where it outlives the invocation (the account registry), awaited right
     * after the call that made it: a crash between the two leaves at most that one change
     * unrecorded, and it carries this execution's tag (or is found again by the retried step).
     */
    private readonly keep: (change: Change) => Promise<void> = async () => {},
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

  get changes(): readonly Change[] {
    return this.changed;
  }

  get found(): readonly string[] {
    return this.seen;
  }

  /** The calls made so far, in order. */
  get operations(): readonly Operation[] {
    return this.log;
  }

  /** A change this execution made, with what undoing it needs; kept before the step goes on. */
  async record(change: Change): Promise<void> {
    this.changed.push(change);
    await this.keep(change);
  }

  /** A resource that was already as it must be: used, never changed or undone. */
  markFound(resource: string): void {
    this.seen.push(resource);
  }

  /**
   * An existing resource: made earlier in this run (still ours to undo, and recorded again in case
   * the attempt that made it stopped before recording it) or found.
   */
  async existing(resource: string, tags: Tag[] | undefined, change: Change): Promise<void> {
    if (this.createdByThisRun(tags)) await this.record(change);
    else this.markFound(resource);
  }

  /** A read of something that must exist. */
  call<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T> {
    return this.send("read", operation, resource, send);
  }

  /** A read that answers undefined when the entity does not exist. */
  read<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T | undefined> {
    return this.send("read", operation, resource, () => tolerate(send, isNotFound));
  }

  /** A create that answers undefined when a concurrent run made the entity first. */
  create<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T | undefined> {
    return this.send("create", operation, resource, () => tolerate(send, isAlreadyExists));
  }

  /** A write to something that exists (a new version, an attachment, a trust policy). */
  change<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T> {
    return this.send("change", operation, resource, send);
  }

  /** A delete; one already gone answers undefined, which is what a delete wants. */
  delete<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T | undefined> {
    return this.send("delete", operation, resource, () => tolerate(send, isNotFound));
  }

  report(): StepReport {
    return { changes: [...this.changed], found: [...this.seen] };
  }

  private async send<T>(
    kind: Operation["kind"],
    operation: string,
    resource: string,
    send: () => Promise<T>,
  ): Promise<T> {
    this.log.push({ kind, operation, resource });
    try {
      return await send();
    } catch (error) {
      throw describeAwsFailure(this.step, operation, resource, error);
    }
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
