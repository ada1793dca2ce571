import { DeleteAccessKeyCommand, IAMClient, UpdateLoginProfileCommand } from "@aws-sdk/client-iam";
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { RegistryItem } from "../../functions/lib/registry.ts";
import { pendingVersionId } from "../../functions/lib/rotation.ts";
import { promotePendingVersion } from "../../functions/rotate-promote.ts";
import { undoRotation } from "../../functions/rotate-undo.ts";
import { TARGET } from "../support/aws.ts";

const iamMock = mockClient(IAMClient);
const smMock = mockClient(SecretsManagerClient);
const EXECUTION = "rotation-1";
const SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/222222222222-AbCdEf";
const OLD = "AKIAOLDOLDOLDOLD0001";
const NEW = "AKIANEWNEWNEWNEW0002";
const PENDING = pendingVersionId(SECRET, EXECUTION);
const CURRENT = "11111111-1111-4111-8111-111111111111";
const base = {
  target: { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "" },
  execution: EXECUTION,
  rotation: { secretArn: SECRET, cloudAccountId: 17, previousAccessKeyId: OLD },
};

beforeEach(() => {
  iamMock.reset();
  smMock.reset();
  smMock.on(UpdateSecretVersionStageCommand).resolves({});
  iamMock.on(DeleteAccessKeyCommand).resolves({});
  iamMock.on(UpdateLoginProfileCommand).resolves({});
});

describe("promotePendingVersion", () => {
  it("names the new key in the registry first, then moves AWSCURRENT and takes AWSPENDING off", async () => {
    const order: string[] = [];
    smMock.on(DescribeSecretCommand).callsFake(() => {
      order.push("describe");
      return { VersionIdsToStages: { [CURRENT]: ["AWSCURRENT"], [PENDING]: ["AWSPENDING"] } };
    });
    const registry = {
      recordRotation: async (_a: string, _e: string, patch: object) => {
        order.push(`registry ${JSON.stringify(patch).includes(NEW)}`);
        return undefined;
      },
    };
    await promotePendingVersion(
      { ...base, newKey: { newAccessKeyId: NEW, pendingVersionId: PENDING } },
      { secrets: new SecretsManagerClient({}), registry },
    );
    expect(order).toEqual(["registry true", "describe"]);
    const moves = smMock.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input);
    expect(moves).toEqual([
      {
        SecretId: SECRET,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: PENDING,
        RemoveFromVersionId: CURRENT,
      },
      { SecretId: SECRET, VersionStage: "AWSPENDING", RemoveFromVersionId: PENDING },
    ]);
  });

  it("moves nothing when the labels are already where they belong (a retry)", async () => {
    smMock
      .on(DescribeSecretCommand)
      .resolves({ VersionIdsToStages: { [CURRENT]: ["AWSPREVIOUS"], [PENDING]: ["AWSCURRENT"] } });
    await promotePendingVersion(
      { ...base, newKey: { newAccessKeyId: NEW, pendingVersionId: PENDING } },
      { secrets: new SecretsManagerClient({}), registry: { recordRotation: async () => undefined } },
    );
    expect(smMock.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });
});

describe("undoRotation", () => {
  const registry = (item: Partial<RegistryItem>) => ({
    get: async () =>
      ({
        rotation: {
          execution: EXECUTION,
          newAccessKeyId: NEW,
          startedAt: "2026-11-30T22:00:00.000Z",
          previousAccessKeyId: OLD,
          outcome: "running",
        },
        ...item,
      }) as RegistryItem,
  });
  const deps = (item: Partial<RegistryItem> = {}) => ({
    iam: async () => new IAMClient({}),
    secrets: new SecretsManagerClient({}),
    registry: registry(item),
  });

  it("deletes the new key, sets the password Redis holds back, and takes AWSPENDING off", async () => {
    smMock
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ consolePassword: "old-password" }) });
    smMock
      .on(DescribeSecretCommand)
      .resolves({ VersionIdsToStages: { [CURRENT]: ["AWSCURRENT"], [PENDING]: ["AWSPENDING"] } });
    const result = await undoRotation(base, deps());
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)[0]?.args[0].input.AccessKeyId).toBe(NEW);
    expect(iamMock.commandCalls(UpdateLoginProfileCommand)[0]?.args[0].input.Password).toBe("old-password");
    expect(smMock.commandCalls(UpdateSecretVersionStageCommand)[0]?.args[0].input).toMatchObject({
      VersionStage: "AWSPENDING",
      RemoveFromVersionId: PENDING,
    });
    expect(result.leftBehind).toEqual([]);
    // Neither the password nor any secret is in what the step answers.
    expect(JSON.stringify(result)).not.toContain("old-password");
  });

  it("keeps a new key Redis says it holds, and says so", async () => {
    const result = await undoRotation({ ...base, atRedis: { accessKeyId: NEW, status: "active" } }, deps());
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)).toHaveLength(0);
    expect(result.leftBehind[0]?.reason).toContain("KeyInUse");
  });

  it("keeps the new key when Redis could not be asked after this run's PUT was sent", async () => {
    const registration = { execution: EXECUTION, accessKeyId: NEW } as RegistryItem["registration"];
    const result = await undoRotation(
      { ...base, atRedis: { Error: "States.Timeout" } },
      deps({ registration }),
    );
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)).toHaveLength(0);
    expect(result.leftBehind).toHaveLength(1);
  });

  it("does nothing when the rotation made no key", async () => {
    const result = await undoRotation(base, {
      ...deps(),
      registry: { get: async () => ({ rotation: { execution: EXECUTION } }) as unknown as RegistryItem },
    });
    expect(result).toEqual({ undone: [], leftBehind: [] });
    expect(iamMock.calls()).toHaveLength(0);
  });
});
