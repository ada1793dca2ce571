import * as z from "zod";

/*
 * What the Redis Cloud API answers, read leniently: the official spec and the live API differ
 * (a task's error is a string in one and an object in the other; links come as an array or as
 * `_links` keyed by relation), so a field of an unexpected shape is dropped, never fatal. Only
 * the ids a caller relies on are required.
 */

/** A non-empty string, or nothing. */
const text = z.string().min(1).optional().catch(undefined);

/** Ids are int32 in the spec; a numeric string is accepted too. */
const integer = z.union([
  z.number().int().refine(Number.isSafeInteger),
  z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
]);
const id = integer.optional().catch(undefined);

const record = z.record(z.string(), z.unknown());

export type TaskStatus =
  | "initialized"
  | "received"
  | "processing-in-progress"
  | "processing-completed"
  | "processing-error";

const LinkSchema = z.object({ rel: text, href: text, type: text, title: text });
export type Link = { rel?: string; href?: string; type?: string; title?: string };

/** The spec says a `links` array; live answers also carry a `_links` object keyed by relation. */
const LINK_FIELDS = {
  links: z.array(z.unknown()).optional().catch(undefined),
  _links: record.optional().catch(undefined),
};

function linksOf({
  links,
  _links,
}: {
  links?: unknown[] | undefined;
  _links?: Record<string, unknown> | undefined;
}): Link[] {
  const read = (item: unknown, rel?: string): Link[] => {
    const link = LinkSchema.safeParse(item);
    return link.success ? [omitUndefined(rel === undefined ? link.data : { ...link.data, rel })] : [];
  };
  return [
    ...(links ?? []).flatMap((item) => read(item)),
    ...Object.entries(_links ?? {}).flatMap(([rel, item]) => read(item, rel)),
  ];
}

/** A failed task's error. The spec declares a string; the live API sends an object. */
export interface RedisTaskError {
  type: string;
  status?: string;
  description?: string;
}

const TaskErrorSchema = z.union([
  z
    .string()
    .min(1)
    .transform((type): RedisTaskError => ({ type })),
  z
    .object({
      type: text,
      status: z
        .union([z.string().min(1), z.number().transform(String)])
        .optional()
        .catch(undefined),
      description: text,
      message: text,
    })
    .transform(
      ({ type, status, description, message }): RedisTaskError =>
        omitUndefined({ type: type ?? "UNKNOWN", status, description: description ?? message }),
    ),
]);

export interface RedisTask {
  taskId: string;
  commandType?: string;
  /** One of TaskStatus, or a status this client does not know yet. */
  status: TaskStatus | (string & {});
  description?: string;
  timestamp?: string;
  /** On `processing-completed`: the id of the resource the task made (the cloud account). */
  resourceId?: number;
  /** On `processing-error`. */
  error?: RedisTaskError;
  links: Link[];
}

const TaskSchema = z
  .object({
    taskId: z.string().min(1),
    commandType: text,
    status: text,
    description: text,
    timestamp: text,
    response: z
      .object({ resourceId: id, error: TaskErrorSchema.optional().catch(undefined) })
      .optional()
      .catch(undefined),
    ...LINK_FIELDS,
  })
  .transform(
    ({ response, status, ...task }): RedisTask =>
      omitUndefined({
        taskId: task.taskId,
        commandType: task.commandType,
        status: status ?? "unknown",
        description: task.description,
        timestamp: task.timestamp,
        resourceId: response?.resourceId,
        error: response?.error,
        links: linksOf(task),
      }),
  );

export interface CloudAccount {
  id: number;
  name?: string;
  /** `draft`, `pending`, `active`, `active-error`, … */
  status?: string;
  provider?: string;
  /** The listing may show it masked (e.g. `A***A`). */
  accessKeyId?: string;
  signInLoginUrl?: string;
  awsUserArn?: string;
  awsConsoleRoleArn?: string;
  links: Link[];
}

const CloudAccountSchema = z
  .object({
    id: integer,
    name: text,
    status: text,
    provider: text,
    accessKeyId: text,
    signInLoginUrl: text,
    awsUserArn: text,
    awsConsoleRoleArn: text,
    ...LINK_FIELDS,
  })
  .transform(
    ({ links, _links, ...account }): CloudAccount =>
      omitUndefined({ ...account, links: linksOf({ links, _links }) }),
  );

/** The listing: `{cloudAccounts: […]}` as in the spec's example, or a bare array. */
const CloudAccountListSchema = z
  .union([z.array(z.unknown()), z.object({ cloudAccounts: z.array(z.unknown()).catch([]) })])
  .catch([])
  .transform((body) => (Array.isArray(body) ? body : body.cloudAccounts));

/** The task listing: `{tasks: […]}` as the spec says, or a bare array. */
const TaskListSchema = z
  .union([z.array(z.unknown()), z.object({ tasks: z.array(z.unknown()).catch([]) })])
  .catch([])
  .transform((body) => (Array.isArray(body) ? body : body.tasks));

/** The API's error answer, in any of its shapes: `{type, description}`, `{error: {…}}`, `{status, message}`, `{error: "…"}`. */
const ApiErrorSchema = record.transform((outer) => {
  const inner = record.safeParse(outer.error);
  const fields = inner.success ? inner.data : outer;
  const rawCode = typeof outer.error === "string" ? outer.error : undefined;
  const code = rawCode !== undefined && /^[A-Z][A-Z0-9_]+$/.test(rawCode) ? rawCode : undefined;
  const pick = (value: unknown) => text.parse(value);
  return {
    type: pick(fields.type) ?? code,
    description:
      pick(fields.description) ??
      pick(fields.message) ??
      pick(outer.message) ??
      (code === undefined ? pick(outer.error) : undefined),
  };
});

export function parseTask(value: unknown): RedisTask | undefined {
  const task = TaskSchema.safeParse(value);
  return task.success ? task.data : undefined;
}

export function parseTasks(value: unknown): RedisTask[] {
  return TaskListSchema.parse(value).flatMap((item) => {
    const task = parseTask(item);
    return task ? [task] : [];
  });
}

export function parseCloudAccount(value: unknown): CloudAccount | undefined {
  const account = CloudAccountSchema.safeParse(value);
  return account.success ? account.data : undefined;
}

export function parseCloudAccounts(value: unknown): CloudAccount[] {
  return CloudAccountListSchema.parse(value).flatMap((item) => {
    const account = parseCloudAccount(item);
    return account ? [account] : [];
  });
}

/** The error's type and description, or nothing when the body is not JSON (a proxy's page). */
export function parseApiError(text: string): { type?: string; description?: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  const error = ApiErrorSchema.safeParse(json);
  return error.success ? omitUndefined(error.data) : {};
}

function omitUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
