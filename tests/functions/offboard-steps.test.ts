import {
  AccountNotFoundException,
  DescribeAccountCommand,
  OrganizationsClient,
} from "@aws-sdk/client-organizations";
import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { readSettings } from "../../functions/lib/config.ts";
import { RedisCloudError } from "../../functions/lib/redis-cloud.ts";
import type { RegistryItem } from "../../functions/lib/registry.ts";
import { offboardAtRedis } from "../../functions/offboard-at-redis.ts";
import { scheduleSecretDeletion } from "../../functions/offboard-secret.ts";
import { offboardStart } from "../../functions/offboard-start.ts";

const ACCOUNT = "222222222222";
const EXECUTION = "222222222222-offboard-api-20261130T2120Z";
const target = { accountId: ACCOUNT, roleName: "OrganizationAccountAccessRole", accountName: "" };
const SECRET_ARN = `arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/${ACCOUNT}-AbCdEf`;
const NOW = "2026-11-30T21:20:00.000Z";

const item = (over: Partial<RegistryItem> = {}): RegistryItem => ({
  accountId: ACCOUNT,
  version: 3,
  status: "offboarding",
  lastExecution: EXECUTION,
  lastOutcome: "running",
  startedAt: NOW,
  updatedAt: NOW,
  cloudAccountId: 1001,
  resources: [
    {
      change: { type: "Secret", arn: SECRET_ARN },
      execution: "onboard-1",
      origin: "created",
      recordedAt: NOW,
    },
  ],
  ...over,
});

const registryOf = (stored: RegistryItem | undefined) => {
  const forgotten: unknown[] = [];
  return {
    forgotten,
    get: async () => stored,
    forgetEntries: async (_a: string, _e: string, entries: readonly unknown[]) => {
      forgotten.push(...entries);
    },
  };
};

describe("OffboardStart", () => {
  const orgs = mockClient(OrganizationsClient);
  beforeEach(() => orgs.reset());
  const deps = (stored: RegistryItem | undefined) => ({
    registry: registryOf(stored),
    organizations: () => new OrganizationsClient({}),
  });

  it("answers nothing to offboard for an account the registry never heard of, asking Organizations nothing", async () => {
    const result = await offboardStart({ target, execution: EXECUTION }, deps(undefined));

    expect(result).toMatchObject({ nothing: true });
    expect(orgs.calls()).toHaveLength(0);
  });

  it.each(["SUSPENDED", "PENDING_CLOSURE", "CLOSED"])(
    "skips IAM for an account whose State is %s",
    async (State) => {
      orgs.on(DescribeAccountCommand).resolves({ Account: { Id: ACCOUNT, State: State as never } });

      const result = await offboardStart({ target, execution: EXECUTION }, deps(item({ status: "active" })));

      expect(result).toEqual({ nothing: false, reachable: false, state: State, cloudAccountId: 1001 });
    },
  );

  it("tries the role of an account that left the organization (AccountNotFoundException)", async () => {
    orgs.on(DescribeAccountCommand).rejects(new AccountNotFoundException({ message: "gone", $metadata: {} }));

    const result = await offboardStart({ target, execution: EXECUTION }, deps(item({ status: "active" })));

    expect(result).toMatchObject({ nothing: false, reachable: true, state: null });
  });
});

describe("ScheduleSecretDeletion", () => {
  const secrets = mockClient(SecretsManagerClient);
  beforeEach(() => secrets.reset());
  const config = { secretNamePrefix: "redis-cloud/byoc/", secretRecoveryDays: 9 };

  it("schedules the product's secret for deletion with the recovery window, never at once", async () => {
    secrets.on(DescribeSecretCommand).resolves({ ARN: SECRET_ARN });
    secrets
      .on(DeleteSecretCommand)
      .resolves({ ARN: SECRET_ARN, DeletionDate: new Date("2026-12-09T21:20:00Z") });
    const registry = registryOf(item());

    const report = await scheduleSecretDeletion(
      { target, execution: EXECUTION },
      { secrets: new SecretsManagerClient({}), registry, config },
    );

    const [call] = secrets.commandCalls(DeleteSecretCommand);
    expect(call?.args[0].input).toEqual({ SecretId: SECRET_ARN, RecoveryWindowInDays: 9 });
    expect(report).toMatchObject({
      secretArn: SECRET_ARN,
      deletionDate: "2026-12-09T21:20:00.000Z",
      recoveryDays: 9,
    });
    expect(registry.forgotten).toHaveLength(1);
  });

  it("answers the date of a secret already scheduled, deleting nothing twice", async () => {
    secrets
      .on(DescribeSecretCommand)
      .resolves({ ARN: SECRET_ARN, DeletedDate: new Date("2026-11-30T21:00:00Z") });

    const report = await scheduleSecretDeletion(
      { target, execution: EXECUTION },
      { secrets: new SecretsManagerClient({}), registry: registryOf(item()), config },
    );

    expect(secrets.commandCalls(DeleteSecretCommand)).toHaveLength(0);
    expect(report.deletionDate).toBe("2026-12-09T21:00:00.000Z");
  });

  it("takes a secret already gone as done", async () => {
    secrets
      .on(DescribeSecretCommand)
      .rejects(new ResourceNotFoundException({ message: "gone", $metadata: {} }));

    const report = await scheduleSecretDeletion(
      { target, execution: EXECUTION },
      { secrets: new SecretsManagerClient({}), registry: registryOf(item()), config },
    );

    expect(report.deletionDate).toBeNull();
    expect(secrets.commandCalls(DeleteSecretCommand)).toHaveLength(0);
  });

  it("touches nothing when the registry does not name this offboarding as the running run", async () => {
    const other = item({ lastExecution: "someone-else" });

    await expect(
      scheduleSecretDeletion(
        { target, execution: EXECUTION },
        { secrets: new SecretsManagerClient({}), registry: registryOf(other), config },
      ),
    ).rejects.toMatchObject({ name: "ResourceConflict" });
    expect(secrets.calls()).toHaveLength(0);
  });
});

describe("OffboardAtRedis", () => {
  const redisWith = (subscriptions: { id: number; cloudAccountIds: number[] }[]) => {
    const deleted: number[] = [];
    const redis = {
      deleted,
      listSubscriptions: async () => subscriptions,
      getCloudAccount: async (id: number) => ({ id, name: `aws-${ACCOUNT}`, status: "active" }),
      deleteCloudAccount: async (id: number) => {
        deleted.push(id);
        return { taskId: "task-1", status: "received" };
      },
      getTask: async () => ({ taskId: "task-1", status: "processing-completed", resourceId: 1001 }),
    };
    return redis;
  };
  const depsOf = (redis: ReturnType<typeof redisWith>, stored = item({ status: "active" })) => ({
    redis: redis as never,
    secrets: {} as never,
    registry: { get: async () => stored, recordRegistration: async () => {} },
  });

  it("refuses with CloudAccountInUse, naming every subscription on the cloud account, and deletes nothing", async () => {
    const redis = redisWith([
      { id: 1206, cloudAccountIds: [1001] },
      { id: 1207, cloudAccountIds: [5] },
      { id: 1208, cloudAccountIds: [1001] },
    ]);

    const failure = offboardAtRedis({ target, execution: EXECUTION }, depsOf(redis));

    await expect(failure).rejects.toMatchObject({ name: "CloudAccountInUse" });
    await expect(failure).rejects.toThrow(/1206, 1208/);
    expect(redis.deleted).toEqual([]);
  });

  it("deletes the cloud account the registry names, then follows its task to the end", async () => {
    const redis = redisWith([{ id: 1207, cloudAccountIds: [5] }]);

    const sent = await offboardAtRedis({ target, execution: EXECUTION }, depsOf(redis));
    expect(sent).toEqual({ done: false, taskId: "task-1", cloudAccountId: 1001 });
    expect(redis.deleted).toEqual([1001]);

    const followed = await offboardAtRedis(
      { target, execution: EXECUTION, registration: { taskId: "task-1", cloudAccountId: 1001 } },
      depsOf(redis),
    );
    expect(followed).toEqual({ done: true, cloudAccountId: 1001, deleted: true });
    expect(redis.deleted).toEqual([1001]);
  });

  it("takes a cloud account already gone at Redis as done, deleting nothing", async () => {
    const redis = {
      ...redisWith([]),
      getCloudAccount: async (id: number) => {
        throw new RedisCloudError("RedisCloudNotFound", `cloud account ${id} not found`, 404);
      },
    };

    const result = await offboardAtRedis({ target, execution: EXECUTION }, depsOf(redis));

    expect(result).toEqual({ done: true, cloudAccountId: 1001, deleted: false });
    expect(redis.deleted).toEqual([]);
  });

  it("asks Redis nothing for an account without a cloud account", async () => {
    const redis = redisWith([]);
    const { cloudAccountId: _none, ...stored } = item();

    const result = await offboardAtRedis(
      { target, execution: EXECUTION },
      depsOf(redis, stored as RegistryItem),
    );

    expect(result).toEqual({ done: true, cloudAccountId: null, deleted: false });
  });
});

describe("SECRET_RECOVERY_DAYS", () => {
  it.each(["6", "31", "seven"])("refuses %s at cold start, by name", (value) => {
    expect(() => readSettings(["secretRecoveryDays"], { SECRET_RECOVERY_DAYS: value })).toThrow(
      /SECRET_RECOVERY_DAYS: must be 7 to 30/,
    );
  });

  it("defaults to 7 days", () => {
    expect(readSettings(["secretRecoveryDays"], {})).toEqual({ secretRecoveryDays: 7 });
  });
});
