import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CloudAccountCreateRequest, RedisCloud } from "../../../functions/lib/redis-cloud.ts";
import description from "../../../local/redis-cloud/openapi.json" with { type: "json" };
import { type LocalRedisCloud, startLocalRedisCloud } from "../../../local/redis-cloud/server.ts";
import { rejectionOf } from "../../support/aws.ts";
import { API_KEYS, CREDENTIALS } from "./fixtures.ts";

/*
 * The project's own description of the API (local/redis-cloud/openapi.json) is the contract the
 * local API keeps: every exchange of a whole onboarding, errors included, is checked against it.
 */

interface Operation {
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }>;
}

interface Exchange {
  method: string;
  path: string;
  requestBody?: unknown;
  status: number;
  responseBody?: unknown;
}

const spec = description as unknown as {
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> };
};

// OpenAPI 3.0 schemas are JSON Schema with a few keywords of their own (example, int32…).
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(description, "openapi");

/** The operation of a concrete request, found through the description's path templates. */
function operationOf(method: string, path: string): Operation | undefined {
  for (const [template, operations] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    if (pattern.test(path)) return operations[method.toLowerCase()];
  }
  return undefined;
}

/** Errors of one exchange against the description; empty when it conforms. */
function violations(exchange: Exchange): string[] {
  const where = `${exchange.method} ${exchange.path} ${exchange.status}`;
  const operation = operationOf(exchange.method, exchange.path);
  if (!operation) return [`${where}: no such operation`];
  const problems: string[] = [];
  const check = (schema: unknown, value: unknown, what: string) => {
    const validate = ajv.compile({ $ref: `openapi#${pointerOf(schema)}` });
    if (!validate(value)) problems.push(`${where} ${what}: ${ajv.errorsText(validate.errors)}`);
  };
  const requestSchema = operation.requestBody?.content["application/json"]?.schema;
  if (requestSchema) check(requestSchema, exchange.requestBody, "request");
  const declared = operation.responses[String(exchange.status)];
  if (!declared) return [...problems, `${where}: status not described`];
  const response = declared.$ref ? spec.components.responses[declared.$ref.split("/").pop() ?? ""] : declared;
  const responseSchema = response?.content?.["application/json"]?.schema;
  if (responseSchema) check(responseSchema, exchange.responseBody, "response");
  return problems;
}

/** The description's schemas are all `$ref`s to components: their JSON pointer. */
function pointerOf(schema: unknown): string {
  const ref = (schema as { $ref?: string }).$ref;
  if (!ref?.startsWith("#/")) throw new Error("the description's bodies must reference components");
  return ref.slice(1);
}

let api: LocalRedisCloud;
const exchanges: Exchange[] = [];

beforeAll(async () => {
  api = await startLocalRedisCloud({
    keys: API_KEYS,
    taskNotFoundPolls: 1,
    accountPendingPolls: 1,
    rateLimitPerMinute: 30,
  });
});

afterAll(async () => {
  await api.close();
});

const recordingFetch = (async (url: string | URL | Request, init?: RequestInit) => {
  const response = await fetch(url, init);
  const text = await response.clone().text();
  exchanges.push({
    method: init?.method ?? "GET",
    path: new URL(String(url)).pathname,
    ...(typeof init?.body === "string" ? { requestBody: JSON.parse(init.body) as unknown } : {}),
    status: response.status,
    ...(text ? { responseBody: JSON.parse(text) as unknown } : {}),
  });
  return response;
}) as typeof fetch;

const create = (accessKeyId: string): CloudAccountCreateRequest => ({
  name: `aws-${accessKeyId}`,
  provider: "AWS",
  accessKeyId,
  accessSecretKey: CREDENTIALS.secretAccessKey,
  consoleUsername: CREDENTIALS.consoleUsername,
  consolePassword: CREDENTIALS.consolePassword,
  signInLoginUrl: CREDENTIALS.signInUrl,
});

describe("local/redis-cloud/openapi.json", () => {
  it("describes every exchange of the local API, errors included", async () => {
    // Prepare
    const redis = new RedisCloud({ baseUrl: api.url, keys: api.keys, fetch: recordingFetch });
    const stranger = new RedisCloud({
      baseUrl: api.url,
      keys: { accountKey: "x", userKey: "y" },
      fetch: recordingFetch,
    });

    // Act: a registration to active, a failed task, a new key, the task listing, a deletion, then refusals.
    const created = await redis.createCloudAccount(create(CREDENTIALS.accessKeyId));
    let done = await redis.getTask(created.taskId).catch(() => undefined);
    for (let i = 0; i < 6 && done?.status !== "processing-completed"; i++)
      done = await redis.getTask(created.taskId).catch(() => done);
    const id = done?.resourceId ?? -1;
    await redis.getCloudAccount(id);
    await redis.getCloudAccount(id);
    await redis.listCloudAccounts();
    const again = await redis.createCloudAccount(create(CREDENTIALS.accessKeyId));
    for (let i = 0; i < 5; i++) await redis.getTask(again.taskId).catch(() => undefined);
    const { name: _kept, provider: _same, ...newKey } = create("AKIAROTATED000000003");
    const update = await redis.updateCloudAccount(id, newKey);
    for (let i = 0; i < 5; i++) await redis.getTask(update.taskId).catch(() => undefined);
    await rejectionOf(redis.updateCloudAccount(4242, newKey));
    await redis.listTasks();
    const deletion = await redis.deleteCloudAccount(id);
    for (let i = 0; i < 5; i++) await redis.getTask(deletion.taskId).catch(() => undefined);
    await rejectionOf(redis.getCloudAccount(id));
    await rejectionOf(stranger.listCloudAccounts());
    while (exchanges.at(-1)?.status !== 429) await redis.listCloudAccounts().catch(() => undefined);

    // Assess
    const statuses = new Set(exchanges.map((e) => e.status));
    expect([...statuses].sort()).toEqual([200, 202, 401, 404, 429]);
    expect(
      exchanges.some((e) => (e.responseBody as { response?: { error?: unknown } })?.response?.error),
    ).toBe(true);
    expect(exchanges.flatMap(violations)).toEqual([]);
  });

  it("would notice a response that breaks it", () => {
    // Act
    const problems = violations({
      method: "GET",
      path: "/v1/tasks/t-1",
      status: 200,
      responseBody: { taskId: "t-1", status: "finished" },
    });

    // Assess
    expect(problems.join()).toContain("must be equal to one of the allowed values");
  });
});
