import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { RegistrationRecord } from "../../functions/lib/registry.ts";
import { withdrawRegistration } from "../../functions/withdraw-registration.ts";
import {
  CREDENTIALS,
  type FakeAnswer,
  fakeRedisApi,
  runningRegistry,
  task,
} from "../local/redis-cloud/fixtures.ts";
import { EXECUTION, stepInput, TARGET } from "../support/aws.ts";

/*
 * The withdrawal at Redis of a run's registration (run by the registrar for the rollback), against
 * a scripted API: a request whose answer was lost is traced through Redis's task list.
 */

const secretsMock = mockClient(SecretsManagerClient);

const NEW_KEY = CREDENTIALS.accessKeyId;
const REQUESTED_AT = "2026-03-01T10:00:00.000Z";
const sinceRequest = (seconds: number) => new Date(Date.parse(REQUESTED_AT) + seconds * 1000).toISOString();

let registry: Awaited<ReturnType<typeof runningRegistry>>;

beforeEach(async () => {
  secretsMock.reset();
  registry = await runningRegistry();
});

async function runWithdrawal(
  registration: RegistrationRecord,
  _changes: unknown[],
  routes: Record<string, FakeAnswer | FakeAnswer[]> = {},
) {
  await registry.registry.recordRegistration(TARGET, registration);
  const api = fakeRedisApi(routes);
  const result = await withdrawRegistration(stepInput(), {
    secrets: new SecretsManagerClient({}),
    registry: registry.registry,
    redis: api.redis,
  });
  return { result, api };
}

describe("the withdrawal of a registration whose answer was lost before its task id was recorded", () => {
  /** Recorded before the POST; neither a task id nor a cloud account id came back. */
  const LOST: RegistrationRecord = {
    name: "payments-prod",
    accessKeyId: NEW_KEY,
    execution: EXECUTION,
    requestedAt: REQUESTED_AT,
    requests: 1,
    origin: "created",
  };
  const ours = { id: 31, name: "payments-prod", status: "pending", accessKeyId: NEW_KEY };
  const createTask = (taskId: string, status: string, timestamp: string, response: object = {}) => ({
    ...task(taskId, status, response),
    timestamp,
  });

  it("deletes the cloud account its completed create task made, once read by id with the recorded name and key", async () => {
    // Act
    const { result, api } = await runWithdrawal(LOST, [], {
      "GET /tasks": {
        body: { tasks: [createTask("t-lost", "processing-completed", sinceRequest(2), { resourceId: 31 })] },
      },
      "GET /cloud-accounts/31": { body: ours },
      "DELETE /cloud-accounts/31": { body: task("t-del", "received") },
    });

    // Assess
    expect(result.undone).toEqual(["CloudAccount 31"]);
    expect(result.leftBehind).toEqual([]);
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /tasks",
      "GET /cloud-accounts/31",
      "DELETE /cloud-accounts/31",
    ]);
  });

  it("never says undone while a create task made since the request is in flight: left behind with its id", async () => {
    // Act
    const { result, api } = await runWithdrawal(LOST, [], {
      "GET /tasks": {
        body: {
          tasks: [
            createTask("t-inflight", "received", sinceRequest(1)),
            // Made before the request (past the clock's margin), or not a create: not ours.
            createTask("t-older", "received", sinceRequest(-600)),
            {
              ...createTask("t-delete", "processing-in-progress", sinceRequest(3)),
              commandType: "cloudAccountDeleteRequest",
            },
          ],
        },
      },
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
    });

    // Assess
    expect(result.undone).toEqual([]);
    expect(result.leftBehind).toEqual([
      { change: "CloudAccount of task t-inflight", error: expect.stringContaining("t-inflight") },
    ]);
    expect(result.leftBehind[0]?.error).toContain("still received");
    expect(api.calls.some((c) => c.method === "DELETE")).toBe(false);
  });

  it("leaves a completed task's cloud account of another name or key alone, and still finds ours by name and full key", async () => {
    // Act
    const { result, api } = await runWithdrawal(LOST, [], {
      "GET /tasks": {
        body: [createTask("t-other", "processing-completed", sinceRequest(1), { resourceId: 32 })],
      },
      "GET /cloud-accounts/32": {
        body: { id: 32, name: "someone-else", status: "active", accessKeyId: "AKIAOTHER00000000032" },
      },
      "GET /cloud-accounts": { body: { cloudAccounts: [{ ...ours, id: 33, accessKeyId: "A***2" }] } },
      "GET /cloud-accounts/33": { body: { ...ours, id: 33 } },
      "DELETE /cloud-accounts/33": { body: task("t-del", "received") },
    });

    // Assess
    expect(result.undone).toEqual(["CloudAccount 33"]);
    expect(api.calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/cloud-accounts/33"]);
  });

  it("reports the lost request when Redis's tasks cannot be listed and nothing of its name and key is found", async () => {
    // Act
    const { result } = await runWithdrawal(LOST, [], {
      "GET /tasks": { status: 500, body: { type: "GENERAL_ERROR" } },
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
    });

    // Assess
    expect(result.undone).toEqual([]);
    expect(result.leftBehind).toEqual([
      { change: "CloudAccount named payments-prod", error: expect.stringContaining("could not be listed") },
    ]);
  });
});
