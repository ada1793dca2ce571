import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccountPasswordPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  UpdateLoginProfileCommand,
} from "@aws-sdk/client-iam";
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { WorkflowError } from "../../functions/lib/errors.ts";
import type { RegistryItem } from "../../functions/lib/registry.ts";
import { pendingVersionId } from "../../functions/lib/rotation.ts";
import { type CreateKeyDeps, createPendingKey } from "../../functions/rotate-create-key.ts";
import { awsError, rejectionOf, sentCommands, TARGET } from "../support/aws.ts";

const iamMock = mockClient(IAMClient);
const smMock = mockClient(SecretsManagerClient);
const EXECUTION = "222222222222-rotate-api-202611302200";
const SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:redis-cloud/byoc/222222222222-AbCdEf";
const OLD = "AKIAOLDOLDOLDOLD0001";
const NEW = "AKIANEWNEWNEWNEW0002";
const EARLIER = "AKIAEARLIEREARLIER03";
const input = {
  target: { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "" },
  execution: EXECUTION,
  rotation: { secretArn: SECRET, cloudAccountId: 17, previousAccessKeyId: OLD },
};

function deps(
  item: Partial<RegistryItem> = {},
  record: CreateKeyDeps["registry"]["recordRotation"] = async () => undefined,
) {
  const recorded: unknown[] = [];
  const built: CreateKeyDeps = {
    iam: new IAMClient({}),
    secrets: new SecretsManagerClient({}),
    registry: {
      get: async () => ({ resources: [], rotation: { execution: EXECUTION }, ...item }) as RegistryItem,
      recordRotation: async (...args) => {
        recorded.push(args[2]);
        return record(...args);
      },
    },
    readers: [],
  };
  return { deps: built, recorded };
}

const keys = (...ids: string[]) => ({ AccessKeyMetadata: ids.map((AccessKeyId) => ({ AccessKeyId })) });

beforeEach(() => {
  iamMock.reset();
  smMock.reset();
  smMock.on(GetSecretValueCommand).rejects(awsError.secretNotFound());
  smMock.on(PutSecretValueCommand).resolves({});
  iamMock.on(ListAccessKeysCommand).resolves(keys(OLD));
  iamMock.on(CreateAccessKeyCommand).resolves({
    AccessKey: {
      AccessKeyId: NEW,
      SecretAccessKey: "s3cr3t",
      UserName: "redislabs-user",
      Status: "Active",
    },
  });
  iamMock.on(GetAccountPasswordPolicyCommand).rejects(awsError.noSuchEntity());
  iamMock.on(UpdateLoginProfileCommand).resolves({});
  iamMock.on(DeleteAccessKeyCommand).resolves({});
});

describe("createPendingKey", () => {
  it("makes a key and a password and writes them as the AWSPENDING version, token from the execution", async () => {
    const { deps: d, recorded } = deps();
    const result = await createPendingKey(input, d);
    expect(result).toEqual({ newAccessKeyId: NEW, pendingVersionId: pendingVersionId(SECRET, EXECUTION) });
    expect(recorded).toEqual([{ newAccessKeyId: NEW }]);
    const put = smMock.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(put?.VersionStages).toEqual(["AWSPENDING"]);
    expect(put?.ClientRequestToken).toBe(pendingVersionId(SECRET, EXECUTION));
    const value = JSON.parse(put?.SecretString ?? "{}");
    expect(value).toMatchObject({
      accessKeyId: NEW,
      secretAccessKey: "s3cr3t",
      consoleUsername: "redislabs-user",
      cloudAccountId: 17,
    });
    expect(value.consolePassword).toBe(
      iamMock.commandCalls(UpdateLoginProfileCommand)[0]?.args[0].input.Password,
    );
    // The answer holds ids only.
    expect(JSON.stringify(result)).not.toContain("s3cr3t");
  });

  it("deletes a product-made key Redis does not use before making the second", async () => {
    iamMock.on(ListAccessKeysCommand).resolves(keys(OLD, EARLIER));
    const { deps: d } = deps({
      registration: { previousAccessKeyId: EARLIER } as RegistryItem["registration"],
    });
    await createPendingKey(input, d);
    expect(sentCommands(iamMock).slice(0, 3)).toEqual([
      "ListAccessKeysCommand",
      "DeleteAccessKeyCommand",
      "CreateAccessKeyCommand",
    ]);
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)[0]?.args[0].input.AccessKeyId).toBe(EARLIER);
  });

  it("refuses, with LimitExceeded naming it, a second key the product did not make, and writes nothing", async () => {
    iamMock.on(ListAccessKeysCommand).resolves(keys(OLD, EARLIER));
    const error = await rejectionOf(createPendingKey(input, deps().deps));
    expect(error.name).toBe("LimitExceeded");
    expect(error.message).toContain(EARLIER);
    expect(iamMock.commandCalls(CreateAccessKeyCommand)).toHaveLength(0);
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)).toHaveLength(0);
  });

  it("a retry that finds its pending version written makes nothing", async () => {
    iamMock.on(ListAccessKeysCommand).resolves(keys(OLD, NEW));
    smMock.on(GetSecretValueCommand).resolves({
      VersionId: pendingVersionId(SECRET, EXECUTION),
      SecretString: JSON.stringify({ accessKeyId: NEW }),
    });
    const result = await createPendingKey(input, deps().deps);
    expect(result.newAccessKeyId).toBe(NEW);
    expect(iamMock.commandCalls(CreateAccessKeyCommand)).toHaveLength(0);
    expect(smMock.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  it("a registry that refuses the new key's id gets the key deleted before the step fails", async () => {
    const { deps: d } = deps({}, async () => {
      throw new WorkflowError("AccessDenied", "registry refused");
    });
    const error = await rejectionOf(createPendingKey(input, d));
    expect(error.name).toBe("AccessDenied");
    expect(iamMock.commandCalls(DeleteAccessKeyCommand)[0]?.args[0].input.AccessKeyId).toBe(NEW);
    expect(smMock.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  it("stops when the key Redis uses is not on the user", async () => {
    iamMock.on(ListAccessKeysCommand).resolves(keys());
    const error = await rejectionOf(createPendingKey(input, deps().deps));
    expect(error.name).toBe("UnexpectedError");
    expect(error.message).toContain(OLD);
  });
});
