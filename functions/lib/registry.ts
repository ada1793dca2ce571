import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import * as z from "zod";
import { describeAwsFailure, WorkflowError } from "./errors.ts";
import { type RotationRecord, RotationRecordSchema } from "./rotation.ts";
import { ACCOUNT_ID, type Change, ChangeSchema } from "./step.ts";

/*
 * The account registry: one DynamoDB item per target account, saying what the product holds there
 * and which run did what. Every write replaces the item on the condition that its `version` is
 * the one read (or, for the first, that there is none), so two writers cannot interleave
 * silently: the loser gets RegistryConflict, which the state machine retries with a fresh read.
 * No secret is ever written here: access key ids and ARNs only.
 */

export const REGISTRY_STATUSES = [
  "onboarding",
  "active",
  "failed",
  // --- Offboarding ---
  "offboarding",
  "offboarded",
] as const;
export type RegistryStatus = (typeof REGISTRY_STATUSES)[number];

/**
 * How a run came by a recorded resource: it made it (`created`), it changed one that existed and
 * the change holds the state before (`modified`: a trust policy, a new default policy version), or
 * it took over one that existed as it was (`adopted`, with `prior`: the state it had before).
 */
export const ORIGINS = ["created", "modified", "adopted"] as const;
export type Origin = (typeof ORIGINS)[number];

const text = z.string().min(1);
const isoTime = z.iso.datetime({ error: "must be an ISO-8601 UTC time" });

export const RegistryEntrySchema = z.object({
  /** What was done, with what undoing it needs (the same union the steps report). */
  change: ChangeSchema,
  /** The execution that did it. */
  execution: text,
  origin: z.enum(ORIGINS),
  recordedAt: isoTime,
  /** For `adopted`: the resource as it was found, as a JSON document. */
  prior: z.string().optional(),
});
export type RegistryEntry = z.output<typeof RegistryEntrySchema>;

/**
 * A registration with Redis Cloud as the registry knows it. It is written before the POST, so that
 * a POST whose answer was lost is still known: a cloud account found afterwards with this name and
 * key is the run's (`created`), and its rollback deletes it. A cloud account that existed before
 * the run is `found`, and no rollback ever deletes it; one found on a dead key is given this run's
 * key (`kind: "update"`), recorded before the PUT for the same reason. Ids and names only: never a
 * secret.
 */
export const RegistrationRecordSchema = z.object({
  name: text,
  accessKeyId: text,
  /** The execution that requested (or found) it. */
  execution: text,
  requestedAt: isoTime,
  /** POSTs this execution sent: past the first, a cloud account with our key may be an earlier one's. */
  requests: z.number().int().nonnegative().optional(),
  taskId: text.optional(),
  cloudAccountId: z.number().int().positive().optional(),
  origin: z.enum(["created", "found"]),
  /**
   * `update`: the cloud account existed on another key, and Redis was asked (PUT) to use
   * `accessKeyId` instead; absent means `create`. Redis may be on the new key from the moment
   * it is asked, so no rollback deletes that key.
   */
  kind: z.enum(["create", "update"]).optional(),
  /** For an update: the key Redis used before, retired once the account is active on the new one. */
  previousAccessKeyId: text.optional(),
});
export type RegistrationRecord = z.output<typeof RegistrationRecordSchema>;

/** The outcome of the last run; `running` until the state machine records how it ended. */
const OUTCOMES = ["running", "succeeded", "failed"] as const;

/** Loose: attributes a later version adds survive a rewrite by this one. */
export const RegistryItemSchema = z.looseObject({
  accountId: z.string().regex(ACCOUNT_ID, "must be a 12-digit account id"),
  version: z.number().int().positive(),
  status: z.enum(REGISTRY_STATUSES),
  lastExecution: text,
  lastOutcome: z.enum(OUTCOMES),
  /** The error name the last run failed with (never its cause, which may name anything). */
  lastError: z.string().optional(),
  /** Who started the last run, when its execution's name tells (a vending event, the HTTP API). */
  startedBy: z.string().optional(),
  startedAt: isoTime,
  updatedAt: isoTime,
  cloudAccountId: z.number().int().positive().optional(),
  /** The id of the access key Redis uses; the key's secret is in Secrets Manager only. */
  accessKeyId: z.string().optional(),
  secretArn: z.string().optional(),
  resources: z.array(RegistryEntrySchema),
  /** The last registration with Redis Cloud; the rollback reads it from here only. */
  registration: RegistrationRecordSchema.optional(),
  /** sha256 of each shipped document the product applied, by resource (policy ARN, role name). */
  documentHashes: z.record(z.string(), z.string()).optional(),
  // --- Offboarding ---
  /** What the last offboarding removed, kept (found, not the product's) and gave back. */
  offboarding: z.looseObject({}).optional(),
});
export type RegistryItem = z.output<typeof RegistryItemSchema>;

export type Outcome =
  | {
      status: "active";
      cloudAccountId: number;
      accessKeyId: string;
      secretArn: string;
      documentHashes?: Record<string, string>;
    }
  | { status: "failed"; error: string };

/** What the Redis Cloud steps need of the registry: the run's item, and its registration record. */
export type RegistrationStore = Pick<Registry, "get" | "recordRegistration">;

/**
 * What a step needs of the registry: what the product owns in the account, and to record each
 * change right after making it (an adoption, with the state before, before the first change).
 */
export interface ChangeRecorder {
  get(accountId: string): Promise<RegistryItem | undefined>;
  recordChange(accountId: string, execution: string, change: Change): Promise<void>;
  recordAdoption(accountId: string, execution: string, change: Change, prior: string): Promise<void>;
}

/** Undoing a trust policy or a default version restores a prior state: the rest was made. */
const MODIFYING = new Set<Change["type"]>([
  "TrustPolicy",
  "PolicyVersion",
  "RolePolicyDetachment",
  "UserPolicyDetachment",
  "InstanceProfileRoleRemoval",
  "LoginProfilePassword",
  "SecretValue",
  "SecretPolicy",
  "SecretTag",
]);
export const originOf = (change: Change): Origin => (MODIFYING.has(change.type) ? "modified" : "created");

/** The resource's key in the item: one entry per change, per execution. */
const sameEntry = (entry: RegistryEntry, execution: string, change: Change) =>
  entry.execution === execution && JSON.stringify(entry.change) === JSON.stringify(change);

/** A run's own item: begun by it and not ended. Anything else is not this run's to write. */
function runOf(item: RegistryItem | undefined, accountId: string, execution: string): RegistryItem {
  if (item?.lastExecution === execution && item.lastOutcome === "running") return item;
  const holder = item ? `${item.lastExecution} (${item.lastOutcome})` : "no run";
  throw new WorkflowError(
    "ResourceConflict",
    `registry: the last run of account ${accountId} is ${holder}, not ${execution}`,
  );
}

export class Registry implements ChangeRecorder {
  /** The item as last read or written by this instance: one invocation's view. */
  private readonly known = new Map<string, RegistryItem | undefined>();

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    /** Names the step in errors. */
    private readonly step: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The item as stored now (a strongly consistent read), or undefined when there is none. */
  async get(accountId: string): Promise<RegistryItem | undefined> {
    const item = await readRegistryItem(this.client, this.table, this.step, accountId);
    this.known.set(accountId, item);
    return item;
  }

  /** A run starts: status onboarding, this execution the last; what earlier runs recorded stays. */
  async beginRun(accountId: string, run: { execution: string; startedBy?: string | undefined }) {
    return this.update(accountId, (item, at) => {
      if (item?.lastExecution === run.execution && item.lastOutcome === "running") return undefined;
      const { lastError: _previous, startedBy: _by, ...kept } = item ?? { accountId, resources: [] };
      return {
        ...kept,
        status: "onboarding",
        lastExecution: run.execution,
        lastOutcome: "running",
        ...(run.startedBy ? { startedBy: run.startedBy } : {}),
        startedAt: at,
        updatedAt: at,
      };
    });
  }

  /** A change of this run, recorded once (a retried step records it again: no second entry). */
  async recordChange(accountId: string, execution: string, change: Change): Promise<void> {
    await this.update(accountId, (current, at) => {
      const item = runOf(current, accountId, execution);
      const origin = originOf(change);
      if (item.resources.some((e) => e.origin === origin && sameEntry(e, execution, change)))
        return undefined;
      const entry: RegistryEntry = { change, execution, origin, recordedAt: at };
      return { ...item, resources: [...item.resources, entry], updatedAt: at };
    });
  }

  /**
   * A foreign resource this run takes over, with its state before (a JSON document), recorded
   * before the first write to it: a failed run gives that state back.
   */
  async recordAdoption(accountId: string, execution: string, change: Change, prior: string): Promise<void> {
    await this.update(accountId, (current, at) => {
      const item = runOf(current, accountId, execution);
      if (item.resources.some((e) => e.origin === "adopted" && sameEntry(e, execution, change)))
        return undefined;
      const entry: RegistryEntry = { change, execution, origin: "adopted", recordedAt: at, prior };
      return { ...item, resources: [...item.resources, entry], updatedAt: at };
    });
  }

  /** This run's registration with Redis Cloud, as it stands now (written only when it differs). */
  async recordRegistration(accountId: string, record: RegistrationRecord): Promise<void> {
    await this.update(accountId, (current, at) => {
      const item = runOf(current, accountId, record.execution);
      if (JSON.stringify(item.registration) === JSON.stringify(record)) return undefined;
      return { ...item, registration: RegistrationRecordSchema.parse(record), updatedAt: at };
    });
  }

  /** The rollback undid these changes of this run: they are no longer the product's. */
  async forget(accountId: string, execution: string, changes: readonly Change[]): Promise<void> {
    await this.update(accountId, (current, at) => {
      const item = runOf(current, accountId, execution);
      const kept = item.resources.filter((e) => !changes.some((change) => sameEntry(e, execution, change)));
      if (kept.length === item.resources.length) return undefined;
      return { ...item, resources: kept, updatedAt: at };
    });
  }

  /**
   * How the run ended; recording the same end again changes nothing. A failed run undoes only what
   * it changed itself, so an account an earlier run onboarded (it holds a cloud account) stays
   * active: only the last outcome says this run failed.
   */
  async finish(accountId: string, execution: string, outcome: Outcome): Promise<RegistryItem | undefined> {
    const lastOutcome = outcome.status === "failed" ? "failed" : "succeeded";
    return this.update(accountId, (current, at) => {
      if (current?.lastExecution === execution && current.lastOutcome === lastOutcome) return undefined;
      const item = runOf(current, accountId, execution);
      if (outcome.status === "failed") {
        const status = item.cloudAccountId === undefined ? "failed" : "active";
        return { ...item, status, lastOutcome, lastError: outcome.error, updatedAt: at };
      }
      const { lastError: _none, ...rest } = item;
      const { status, ...refs } = outcome;
      return { ...rest, ...refs, status, lastOutcome: "succeeded", updatedAt: at };
    });
  }

  // --- Credential rotation ------------------------------------------------------------------
  /**
   * A rotation becomes the account's running run: only an active account (onboarded, on a key
   * the registry names) is rotated; its status stays active throughout. Begun again by the same
   * execution (a retried step), nothing changes.
   */
  async beginRotation(accountId: string, execution: string, startedBy?: string): Promise<RegistryItem> {
    const item = await this.update(accountId, (current, at) => {
      if (current?.lastExecution === execution && current.lastOutcome === "running") return undefined;
      const { lastError: _previous, startedBy: _by, ...kept } = current ?? { accountId, resources: [] };
      const { cloudAccountId, accessKeyId, secretArn } = kept as Partial<RegistryItem>;
      if (current?.status !== "active" || !cloudAccountId || !accessKeyId || !secretArn) {
        throw new WorkflowError(
          "NotOnboarded",
          `${this.step}: account ${accountId} is not onboarded (registry status ${current?.status ?? "absent"}): onboard it before rotating its credentials`,
        );
      }
      const rotation: RotationRecord = {
        execution,
        startedAt: at,
        previousAccessKeyId: accessKeyId,
        outcome: "running",
      };
      return {
        ...kept,
        status: "active",
        lastExecution: execution,
        lastOutcome: "running",
        ...(startedBy ? { startedBy } : {}),
        startedAt: at,
        updatedAt: at,
        rotation,
      } as Omit<RegistryItem, "version">;
    });
    return item as RegistryItem;
  }

  /** Updates this rotation's record; on the switch (`accessKeyId`), the key Redis uses with it. */
  async recordRotation(
    accountId: string,
    execution: string,
    patch: Partial<RotationRecord> & { accessKeyId?: string },
  ): Promise<RegistryItem | undefined> {
    return this.update(accountId, (current, at) => {
      const item = current?.lastExecution === execution ? current : runOf(current, accountId, execution);
      const previous = RotationRecordSchema.safeParse(item.rotation);
      if (!previous.success || previous.data.execution !== execution) {
        throw new WorkflowError(
          "ResourceConflict",
          `${this.step}: the registry holds no rotation of ${execution}`,
        );
      }
      const { accessKeyId, ...fields } = patch;
      const rotation = { ...previous.data, ...fields };
      const same = JSON.stringify(rotation) === JSON.stringify(previous.data);
      if (same && (accessKeyId === undefined || accessKeyId === item.accessKeyId)) return undefined;
      return { ...item, ...(accessKeyId ? { accessKeyId } : {}), rotation, updatedAt: at };
    });
  }

  // --- Offboarding ---

  /** An offboarding starts: status offboarding, this execution the last; the records stay. */
  async beginOffboarding(accountId: string, run: { execution: string; startedBy?: string | undefined }) {
    return this.update(accountId, (item, at) => {
      if (!item) return undefined;
      if (item.lastExecution === run.execution && item.lastOutcome === "running") return undefined;
      const { lastError: _previous, startedBy: _by, ...kept } = item;
      return {
        ...kept,
        status: "offboarding",
        lastExecution: run.execution,
        lastOutcome: "running",
        ...(run.startedBy ? { startedBy: run.startedBy } : {}),
        startedAt: at,
        updatedAt: at,
      };
    });
  }

  /** Entries of any run, removed or given back by this offboarding: no longer the product's. */
  async forgetEntries(accountId: string, execution: string, entries: readonly RegistryEntry[]) {
    await this.update(accountId, (current, at) => {
      const item = runOf(current, accountId, execution);
      const gone = (e: RegistryEntry) => entries.some((x) => sameEntry(e, x.execution, x.change));
      const kept = item.resources.filter((e) => !gone(e));
      if (kept.length === item.resources.length) return undefined;
      return { ...item, resources: kept, updatedAt: at };
    });
  }

  /** The end of an offboarding: nothing held at Redis any more, and what it did. */
  async finishOffboarding(accountId: string, execution: string, record: Record<string, unknown>) {
    return this.update(accountId, (current, at) => {
      if (current?.lastExecution === execution && current.status === "offboarded") return undefined;
      const item = runOf(current, accountId, execution);
      const { lastError: _none, cloudAccountId: _id, accessKeyId: _key, ...held } = item;
      const { secretArn: _secret, registration: _registration, ...rest } = held;
      const offboarding = { ...record, execution, at };
      return { ...rest, status: "offboarded", lastOutcome: "succeeded", offboarding, updatedAt: at };
    });
  }

  /** A failed offboarding: the status stays offboarding, for a re-run to finish it. */
  async failOffboarding(accountId: string, execution: string, error: string) {
    return this.update(accountId, (current, at) => {
      if (current?.lastExecution !== execution || current.lastOutcome !== "running") return undefined;
      return { ...current, lastOutcome: "failed", lastError: error, updatedAt: at };
    });
  }

  /**
   * Reads the item (once per instance), applies `next` and writes the result on the condition
   * that nobody wrote in between. `next` answering undefined means nothing to write.
   */
  private async update(
    accountId: string,
    next: (item: RegistryItem | undefined, at: string) => Omit<RegistryItem, "version"> | undefined,
  ): Promise<RegistryItem | undefined> {
    const current = this.known.has(accountId) ? this.known.get(accountId) : await this.get(accountId);
    const changed = next(current, this.now().toISOString());
    if (changed === undefined) return current;
    const written = RegistryItemSchema.parse({ ...changed, accountId, version: (current?.version ?? 0) + 1 });
    await this.put(written, current?.version);
    this.known.set(accountId, written);
    return written;
  }

  private async put(item: RegistryItem, expected: number | undefined): Promise<void> {
    try {
      await putRegistryItem(this.client, this.table, this.step, item, expected);
    } catch (error) {
      // Whatever is stored now is unknown: the retry reads it afresh.
      if (error instanceof WorkflowError && error.name === "RegistryConflict")
        this.known.delete(item.accountId);
      throw error;
    }
  }
}

/** The account's item as stored now (a strongly consistent read), or undefined when there is none. */
export async function readRegistryItem(
  client: DynamoDBClient,
  table: string,
  step: string,
  accountId: string,
): Promise<RegistryItem | undefined> {
  try {
    const answer = await client.send(
      new GetItemCommand({ TableName: table, Key: { accountId: { S: accountId } }, ConsistentRead: true }),
    );
    return answer.Item ? parseItem(accountId, answer.Item) : undefined;
  } catch (error) {
    throw describeAwsFailure(step, "GetItem", `registry table ${table}`, error);
  }
}

/**
 * Writes an item on the condition that the stored one is still at `expected` (or, with none,
 * that there is none): every writer of the registry goes through here, so that two cannot
 * interleave silently. The loser gets RegistryConflict, which the state machines retry.
 */
export async function putRegistryItem(
  client: DynamoDBClient,
  table: string,
  step: string,
  item: RegistryItem,
  expected: number | undefined,
): Promise<void> {
  const condition =
    expected === undefined
      ? { ConditionExpression: "attribute_not_exists(accountId)" }
      : {
          ConditionExpression: "#version = :expected",
          ExpressionAttributeNames: { "#version": "version" },
          ExpressionAttributeValues: { ":expected": { N: String(expected) } },
        };
  try {
    await client.send(new PutItemCommand({ TableName: table, Item: toItem(item), ...condition }));
  } catch (error) {
    if ((error as { name?: unknown }).name === "ConditionalCheckFailedException") {
      throw new WorkflowError(
        "RegistryConflict",
        `${step}: registry item of account ${item.accountId} was written by another run since version ${expected ?? "(none)"} was read`,
        { cause: error },
      );
    }
    throw describeAwsFailure(step, "PutItem", `registry table ${table}`, error);
  }
}

/** Parses a stored item; a malformed one is an error naming the field, never a value. */
export function parseItem(accountId: string, stored: Record<string, AttributeValue>): RegistryItem {
  const parsed = RegistryItemSchema.safeParse(fromItem(stored));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join(".") || "(item)";
  throw new WorkflowError(
    "RegistryInvalid",
    `registry item of account ${accountId}: field ${field} ${issue?.message ?? "is not valid"}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Marshalling: plain JSON values to DynamoDB's attribute values and back (S, N, BOOL, NULL, L, M:
// all the item uses; a dependency for this would outweigh it).
// ---------------------------------------------------------------------------------------------

export function toAttribute(value: unknown): AttributeValue {
  if (typeof value === "string") return { S: value };
  if (typeof value === "number") return { N: String(value) };
  if (typeof value === "boolean") return { BOOL: value };
  if (value === null) return { NULL: true };
  if (Array.isArray(value)) return { L: value.map(toAttribute) };
  if (typeof value === "object") return { M: toItem(value as Record<string, unknown>) };
  throw new TypeError(`registry: cannot store a ${typeof value}`);
}

/** Undefined members are left out, as JSON does. */
export const toItem = (value: Record<string, unknown>): Record<string, AttributeValue> =>
  Object.fromEntries(
    Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .map(([key, member]) => [key, toAttribute(member)]),
  );

export function fromAttribute(value: AttributeValue): unknown {
  if (value.S !== undefined) return value.S;
  if (value.N !== undefined) return Number(value.N);
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.NULL !== undefined) return null;
  if (value.L !== undefined) return value.L.map(fromAttribute);
  if (value.M !== undefined) return fromItem(value.M);
  // Sets and binaries are never written here: kept as stored, the schema refuses them by field.
  return value;
}

export const fromItem = (item: Record<string, AttributeValue>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(item).map(([key, value]) => [key, fromAttribute(value)]));
