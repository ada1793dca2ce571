import * as z from "zod";
import { describeAwsFailure } from "./errors.ts";
import { type Finding, foreignResource, NO_OWNERSHIP, type Ownership } from "./ownership.ts";

export const ACCOUNT_ID = /^\d{12}$/;
export const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/** The validated target of an onboarding, as the ValidateInput state outputs it. */
export const TargetSchema = z.object(
  {
    accountId: z.string().regex(ACCOUNT_ID, "must be a 12-digit account id"),
    roleName: z.string().regex(ROLE_NAME, "must be an IAM role name"),
    accountName: z.string().default(""),
    /** Set by the input's `"adopt": true`: foreign resources are taken over, not refused. */
    adopt: z.literal(true).optional(),
    /** Set by the input's `"plan": true`: the run only reads and answers what it would write. */
    plan: z.literal(true).optional(),
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
  // What adopting a foreign resource changes, each with what restoring it needs.
  z.object({ type: z.literal("RolePolicyDetachment"), role: text, policyArn: text }),
  z.object({ type: z.literal("UserPolicyDetachment"), user: text, policyArn: text }),
  z.object({ type: z.literal("InstanceProfileRoleRemoval"), profile: text, role: text }),
  /** A login profile's password reset: what it was cannot be known, so it cannot be restored. */
  z.object({ type: z.literal("LoginProfilePassword"), user: text }),
  z.object({ type: z.literal("SecretValue"), arn: text, previousVersionId: text }),
  /** `previousPolicy` absent: the secret had no resource policy. */
  z.object({ type: z.literal("SecretPolicy"), arn: text, previousPolicy: z.string().optional() }),
  /** A tag put on an adopted secret (the cloud account's id): taken off again by its rollback. */
  z.object({ type: z.literal("SecretTag"), arn: text, key: text }),
]);
export type Change = z.output<typeof ChangeSchema>;

export interface StepReport {
  /** What this execution changed, in order. */
  changes: Change[];
  /** Resources that were already in the desired state. */
  found: string[];
  /** Foreign resources this run took over (`"adopt": true`), their state before in the registry. */
  adopted?: string[];
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

/** A write a plan says the run would make, with the documents before and after where they tell. */
export interface PlannedWrite extends Operation {
  step: string;
  before?: unknown;
  after?: unknown;
}

/** Where a plan gathers, across steps, the writes the run would make and the foreign resources. */
export class PlanSink {
  readonly writes: PlannedWrite[] = [];
  readonly findings: (Finding & { step: string })[] = [];
  reads = 0;
}

/** How a write is shown in a plan, and what it answers there, where nothing is sent. */
export interface WriteOptions<T> {
  /**
   * The answer the code after the write needs, made up: plan mode only. Only the fields that code
   * reads, hence not the SDK's full output type.
   */
  simulate?: () => Partial<T> | object;
  before?: unknown;
  after?: unknown;
}

export interface RecorderOptions {
  /** What the registry says the product owns, and whether the input adopts foreign resources. */
  ownership?: Ownership;
  /** Set: plan mode. Reads are made; writes are listed here, not sent. */
  plan?: PlanSink;
  /** Keeps an adoption (the change that stands for it and the state before) before any write. */
  adopt?: (change: Change, prior: string) => Promise<void>;
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
  private readonly took: string[] = [];

  constructor(
    readonly step: string,
    readonly execution: string,
    /**
     * Keeps each change where it outlives the invocation (the account registry), awaited right
     * after the call that made it: a crash between the two leaves at most that one change
     * unrecorded, and it carries this execution's tag (or is found again by the retried step).
     */
    private readonly keep: (change: Change) => Promise<void> = async () => {},
    private readonly options: RecorderOptions = {},
  ) {}

  get planning(): boolean {
    return this.options.plan !== undefined;
  }

  get ownership(): Ownership {
    return this.options.ownership ?? NO_OWNERSHIP;
  }

  /** The registry says the product made (or adopted) what this change is about. */
  owns(change: Change): boolean {
    return this.ownership.owns(change);
  }

  /**
   * A foreign resource, found before any write to it. Without `"adopt": true` (or when adopting
   * would destroy something for good) the step stops with ForeignResource. Adopted, its state
   * before is kept in the registry first. A plan lists it and goes on as an adoption would.
   */
  async foreign(finding: Finding, adoption: { change: Change; prior: unknown }): Promise<void> {
    const plan = this.options.plan;
    if (plan) {
      plan.findings.push({ step: this.step, ...finding });
      if (finding.blocking) throw foreignResource(this.step, [finding]);
      return;
    }
    if (!this.ownership.adopt || finding.blocking) throw foreignResource(this.step, [finding]);
    await this.options.adopt?.(adoption.change, JSON.stringify(adoption.prior));
    this.took.push(finding.resource);
  }

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

  /** A read that answers undefined when the entity does not exist. */
  read<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T | undefined> {
    return this.send("read", operation, resource, () => tolerate(send, isNotFound));
  }

  /**
   * A read of something that must exist. In a plan it may not yet (an earlier step would make
   * it): nothing is on it then, which an empty answer says.
   */
  call<T>(operation: string, resource: string, send: () => Promise<T>): Promise<T> {
    if (!this.planning) return this.send("read", operation, resource, send);
    return this.send(
      "read",
      operation,
      resource,
      async () => (await tolerate(send, isNotFound)) ?? ({} as T),
    );
  }

  /** A create that answers undefined when a concurrent run made the entity first. */
  create<T>(
    operation: string,
    resource: string,
    send: () => Promise<T>,
    options?: WriteOptions<T>,
  ): Promise<T | undefined> {
    return this.send("create", operation, resource, () => tolerate(send, isAlreadyExists), options);
  }

  /** A write to something that exists (a new version, an attachment, a trust policy). */
  change<T>(
    operation: string,
    resource: string,
    send: () => Promise<T>,
    options?: WriteOptions<T>,
  ): Promise<T> {
    return this.send("change", operation, resource, send, options);
  }

  /** A delete; one already gone answers undefined, which is what a delete wants. */
  delete<T>(
    operation: string,
    resource: string,
    send: () => Promise<T>,
    options?: WriteOptions<T | undefined>,
  ): Promise<T | undefined> {
    return this.send("delete", operation, resource, () => tolerate(send, isNotFound), options);
  }

  report(): StepReport {
    const adopted = this.took.length > 0 ? { adopted: [...this.took] } : {};
    return { changes: [...this.changed], found: [...this.seen], ...adopted };
  }

  private async send<T>(
    kind: Operation["kind"],
    operation: string,
    resource: string,
    send: () => Promise<T>,
    options: WriteOptions<T> = {},
  ): Promise<T> {
    this.log.push({ kind, operation, resource });
    const plan = this.options.plan;
    if (plan && kind !== "read") {
      const { before, after } = options;
      plan.writes.push({
        step: this.step,
        kind,
        operation,
        resource,
        ...(before === undefined ? {} : { before }),
        ...(after === undefined ? {} : { after }),
      });
      return (options.simulate ? options.simulate() : undefined) as T;
    }
    if (plan) plan.reads += 1;
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
