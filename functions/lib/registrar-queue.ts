import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  paginateScan,
} from "@aws-sdk/client-dynamodb";
import * as z from "zod";
import { describeAwsFailure } from "./errors.ts";
import { RegistrationSchema } from "./registration.ts";
import { TargetSchema } from "./step.ts";

/*
 * The registrar's queue: one DynamoDB item per request an execution handed over (register or
 * withdraw a cloud account), with the task token the execution waits on, and one item holding the
 * registrar's own state (its lease and what it sent in the last minute). The registrar is the only
 * writer of a request once it is queued, except for its token: a retried hand-over (after a
 * heartbeat timeout) gives a new one, so the registrar writes a request back only on the condition
 * that the token is still the one it read.
 */

export const REQUEST_KINDS = [
  "register",
  "withdraw",
  // Credential rotation: `rotate` is a register whose credentials are the secret's AWSPENDING
  // version (a PUT of the cloud account); `status` asks how Redis sees the cloud account now.
  "rotate",
  "status",
  // --- Reconcile (functions/lib/registrar-look.ts): a read-only look at cloud accounts' statuses ---
  "look",
  // --- Offboarding ---
  "offboard",
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

const PHASES = ["queued", "sent", "checking"] as const;

/** What the registrar keeps of a request between ticks: ids and times, never a secret. */
export const RequestSchema = z.object({
  kind: z.enum(REQUEST_KINDS),
  execution: z.string().min(1),
  target: TargetSchema,
  credentialsSecretArn: z.string().min(1).optional(),
  /** Epoch ms. */
  enqueuedAt: z.number(),
  /** queued: not sent yet; sent: its task runs at Redis; checking: the task is done, the account not yet active. */
  phase: z.enum(PHASES),
  registration: RegistrationSchema.optional(),
  sentAt: z.number().optional(),
  /** Not before this time (epoch ms): Redis refused a key IAM had not propagated yet. */
  notBefore: z.number().optional(),
  /** Refusals of the key so far. */
  refusals: z.number().int().nonnegative().optional(),
  heartbeatAt: z.number().optional(),
  // --- Reconcile: the cloud accounts a `look` asks about (one page of a reconcile) ---
  cloudAccountIds: z.array(z.number().int().positive()).max(100).optional(),
});
export type Request = z.output<typeof RequestSchema>;

export interface QueuedRequest extends Request {
  id: string;
  taskToken: string;
}

/** The registrar's own state: who runs it (the lease) and its requests of the last minute. */
export const RegistrarStateSchema = z.object({
  owner: z.string().optional(),
  /** Epoch ms: past it, the lease is free (its holder died). */
  leaseUntil: z.number().optional(),
  /** Epoch ms of each request sent to Redis in the last 60 s: the sliding window of the budget. */
  sent: z.array(z.number()).default([]),
  /** When the budget may be spent again after Redis said 429 (Retry-After). */
  pausedUntil: z.number().optional(),
  /** Learned duration of one Redis task, in ms. */
  taskMs: z.number().optional(),
  /** When the registrar last saw a task of its end: the next in line started then. */
  lastCompletionAt: z.number().optional(),
});
export type RegistrarState = z.output<typeof RegistrarStateSchema>;

export const requestId = (execution: string, kind: RequestKind): string => `request#${execution}#${kind}`;
const STATE_ID = "registrar#state";

export interface RegistrarQueue {
  /** Queues the request, or gives a queued one its new token (a retried hand-over). */
  submit(request: Request, taskToken: string): Promise<QueuedRequest>;
  get(execution: string, kind: RequestKind): Promise<QueuedRequest | undefined>;
  list(): Promise<QueuedRequest[]>;
  /** Writes back the registrar's progress; false when the request got a new token meanwhile. */
  update(request: QueuedRequest): Promise<boolean>;
  remove(request: QueuedRequest): Promise<void>;
  loadState(): Promise<RegistrarState>;
  /** Saves the state; with `lease`, only if the lease is free, expired or the owner's own. */
  saveState(state: RegistrarState, lease?: { owner: string; now: number }): Promise<boolean>;
}

/** The queue in a DynamoDB table keyed by `id` (S). */
export class DynamoRegistrarQueue implements RegistrarQueue {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
    private readonly step = "Registrar",
  ) {}

  async submit(request: Request, taskToken: string): Promise<QueuedRequest> {
    const existing = await this.get(request.execution, request.kind);
    const queued = existing
      ? { ...existing, taskToken, heartbeatAt: request.enqueuedAt }
      : { ...request, id: requestId(request.execution, request.kind), taskToken };
    await this.call("PutItem", () =>
      this.dynamodb.send(new PutItemCommand({ TableName: this.tableName, Item: toItem(queued) })),
    );
    return queued;
  }

  async get(execution: string, kind: RequestKind): Promise<QueuedRequest | undefined> {
    const answer = await this.call("GetItem", () =>
      this.dynamodb.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { id: { S: requestId(execution, kind) } },
          ConsistentRead: true,
        }),
      ),
    );
    return answer.Item ? fromItem(answer.Item) : undefined;
  }

  async list(): Promise<QueuedRequest[]> {
    const found: QueuedRequest[] = [];
    const pages = paginateScan(
      { client: this.dynamodb },
      { TableName: this.tableName, ConsistentRead: true },
    );
    await this.call("Scan", async () => {
      for await (const page of pages) {
        for (const item of page.Items ?? []) {
          if (item.id?.S?.startsWith("request#")) found.push(fromItem(item));
        }
      }
    });
    return found.sort((a, b) => a.enqueuedAt - b.enqueuedAt || a.id.localeCompare(b.id));
  }

  async update(request: QueuedRequest): Promise<boolean> {
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: toItem(request),
          ConditionExpression: "taskToken = :token",
          ExpressionAttributeValues: { ":token": { S: request.taskToken } },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === "ConditionalCheckFailedException") return false;
      throw describeAwsFailure(this.step, "PutItem", this.tableName, error);
    }
  }

  async remove(request: QueuedRequest): Promise<void> {
    await this.call("DeleteItem", () =>
      this.dynamodb.send(
        new DeleteItemCommand({ TableName: this.tableName, Key: { id: { S: request.id } } }),
      ),
    );
  }

  async loadState(): Promise<RegistrarState> {
    const answer = await this.call("GetItem", () =>
      this.dynamodb.send(
        new GetItemCommand({ TableName: this.tableName, Key: { id: { S: STATE_ID } }, ConsistentRead: true }),
      ),
    );
    const body = answer.Item?.body?.S;
    return RegistrarStateSchema.parse(body ? JSON.parse(body) : {});
  }

  async saveState(state: RegistrarState, lease?: { owner: string; now: number }): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      id: { S: STATE_ID },
      body: { S: JSON.stringify(state) },
      leaseUntil: { N: String(state.leaseUntil ?? 0) },
      owner: { S: state.owner ?? "" },
    };
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ...(lease
            ? {
                // OWNER is a reserved word of DynamoDB's expressions.
                ConditionExpression: "attribute_not_exists(id) OR #owner = :owner OR leaseUntil < :now",
                ExpressionAttributeNames: { "#owner": "owner" },
                ExpressionAttributeValues: { ":owner": { S: lease.owner }, ":now": { N: String(lease.now) } },
              }
            : {}),
        }),
      );
      return true;
    } catch (error) {
      if (lease && (error as Error).name === "ConditionalCheckFailedException") return false;
      throw describeAwsFailure(this.step, "PutItem", this.tableName, error);
    }
  }

  private async call<T>(command: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw describeAwsFailure(this.step, command, this.tableName, error);
    }
  }
}

function toItem(request: QueuedRequest): Record<string, AttributeValue> {
  const { id, taskToken, ...rest } = request;
  return {
    id: { S: id },
    taskToken: { S: taskToken },
    accountId: { S: request.target.accountId },
    body: { S: JSON.stringify(rest) },
  };
}

function fromItem(item: Record<string, AttributeValue>): QueuedRequest {
  const body = RequestSchema.parse(JSON.parse(item.body?.S ?? "{}"));
  return { ...body, id: item.id?.S ?? "", taskToken: item.taskToken?.S ?? "" };
}
