import { DeleteAccessKeyCommand, IAMClient } from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { RegistrationRecord } from "../../functions/lib/registry.ts";
import { type RetireDeps, retireOldKey } from "../../functions/retire-old-key.ts";
import {
  CREDENTIALS,
  fakeRedisApi,
  OLD_KEY,
  runningRegistry,
  updateRecord,
} from "../local/redis-cloud/fixtures.ts";
import { awsError, EXECUTION, rejectionOf, sentCommands, stepInput, TARGET } from "../support/aws.ts";

const iamMock = mockClient(IAMClient);
const iam = new IAMClient({});

const NEW_KEY = CREDENTIALS.accessKeyId;

const UPDATE: RegistrationRecord = updateRecord();
const onKey = (accessKeyId: string) => ({ id: 17, name: "payments-prod", status: "active", accessKeyId });

let registry: Awaited<ReturnType<typeof runningRegistry>>;

beforeEach(async () => {
  iamMock.reset();
  iamMock.on(DeleteAccessKeyCommand).resolves({});
  registry = await runningRegistry();
});

/** Deps whose IAM and Redis are counted: nothing to retire must not even ask for them. */
function deps(api: ReturnType<typeof fakeRedisApi>) {
  const asked = { iam: 0, redis: 0 };
  const built: RetireDeps = {
    registry: registry.registry,
    iam: async () => {
      asked.iam += 1;
      return iam;
    },
    redis: async () => {
      asked.redis += 1;
      return api.redis;
    },
  };
  return { deps: built, asked };
}

describe("retireOldKey", () => {
  it("deletes the key Redis used before, once the cloud account holds the new key in full", async () => {
    // Prepare
    await registry.registry.recordRegistration(TARGET, UPDATE);
    const api = fakeRedisApi({ "GET /cloud-accounts/17": { body: onKey(NEW_KEY) } });

    // Act
    const result = await retireOldKey(stepInput(), deps(api).deps);

    // Assess
    expect(result).toEqual({ retired: [OLD_KEY] });
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /cloud-accounts/17"]);
    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, {
      UserName: "redislabs-user",
      AccessKeyId: OLD_KEY,
    });
  });

  it("counts a previous key already gone as retired", async () => {
    // Prepare
    await registry.registry.recordRegistration(TARGET, UPDATE);
    iamMock.on(DeleteAccessKeyCommand).rejects(awsError.noSuchEntity());
    const api = fakeRedisApi({ "GET /cloud-accounts/17": { body: onKey(NEW_KEY) } });

    // Act
    const result = await retireOldKey(stepInput(), deps(api).deps);

    // Assess
    expect(result).toEqual({ retired: [OLD_KEY] });
    expect(sentCommands(iamMock)).toEqual(["DeleteAccessKeyCommand"]);
  });

  it("keeps the previous key and fails CloudAccountError while Redis does not hold the new one", async () => {
    // Prepare
    await registry.registry.recordRegistration(TARGET, UPDATE);
    const api = fakeRedisApi({ "GET /cloud-accounts/17": { body: onKey(OLD_KEY) } });
    const { deps: built, asked } = deps(api);

    // Act
    const error = await rejectionOf(retireOldKey(stepInput(), built));

    // Assess
    expect(error.name).toBe("CloudAccountError");
    expect(error.message).toContain(`${OLD_KEY} is kept`);
    expect(asked.iam).toBe(0);
    expect(sentCommands(iamMock)).toEqual([]);
  });

  it("lets a failed IAM delete through by name, having deleted nothing else", async () => {
    // Prepare
    await registry.registry.recordRegistration(TARGET, UPDATE);
    iamMock.on(DeleteAccessKeyCommand).rejects(awsError.accessDenied());
    const api = fakeRedisApi({ "GET /cloud-accounts/17": { body: onKey(NEW_KEY) } });

    // Act
    const error = await rejectionOf(retireOldKey(stepInput(), deps(api).deps));

    // Assess
    expect(error.name).toBe("AccessDenied");
    expect(error.message).toContain(OLD_KEY);
  });

  it.each<[string, Partial<RegistrationRecord> | undefined]>([
    ["no registration", undefined],
    ["a create", { kind: "create", previousAccessKeyId: undefined }],
    ["a record without a kind (a create)", { kind: undefined, previousAccessKeyId: undefined }],
    ["an update without a previous key", { previousAccessKeyId: undefined }],
    ["an update that kept its key", { previousAccessKeyId: NEW_KEY }],
    ["another execution's update", { execution: "another-run" }],
  ])("retires nothing, asking neither Redis nor IAM, for %s", async (_case, change) => {
    // Prepare
    if (change) {
      const record = Object.fromEntries(
        Object.entries({ ...UPDATE, ...change }).filter(([, value]) => value !== undefined),
      ) as RegistrationRecord;
      const other = record.execution !== EXECUTION;
      if (other) registry = await runningRegistry(record.execution);
      await registry.registry.recordRegistration(TARGET, record);
      if (other) {
        await registry.registry.finish(TARGET, record.execution, { status: "failed", error: "X" });
        await registry.registry.beginRun(TARGET, { execution: EXECUTION });
      }
    }
    const api = fakeRedisApi();
    const { deps: built, asked } = deps(api);

    // Act
    const result = await retireOldKey(stepInput(), built);

    // Assess
    expect(result).toEqual({ retired: [] });
    expect(asked).toEqual({ iam: 0, redis: 0 });
    expect(api.calls).toEqual([]);
  });

  it("retires nothing for an execution the registry does not name as running", async () => {
    // Prepare: this run's update, then the run ended.
    await registry.registry.recordRegistration(TARGET, UPDATE);
    await registry.registry.finish(TARGET, EXECUTION, { status: "failed", error: "X" });
    const api = fakeRedisApi({ "GET /cloud-accounts/17": { body: onKey(NEW_KEY) } });
    const { deps: built, asked } = deps(api);

    // Act
    const result = await retireOldKey(stepInput(), built);

    // Assess
    expect(result).toEqual({ retired: [] });
    expect(asked).toEqual({ iam: 0, redis: 0 });
  });
});
