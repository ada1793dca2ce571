import { CreateAccessKeyCommand, CreateUserCommand, UpdateAccessKeyCommand } from "@aws-sdk/client-iam";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { beforeEach, describe, expect, it } from "vitest";
import { FakeAws } from "../../../local/aws/index.ts";

/*
 * What credential rotation relies on in the in-memory AWS, kept as AWS does it: a version written
 * with VersionStages [AWSPENDING] leaves AWSCURRENT where it is; moving AWSCURRENT labels the
 * version that held it AWSPREVIOUS; an Inactive access key is refused like an unknown one.
 */

const HOME = "111111111111";
const NAME = "redis-cloud/byoc/222222222222";
const V1 = "11111111-1111-4111-8111-111111111111";
const V2 = "22222222-2222-4222-8222-222222222222";
const V3 = "33333333-3333-4333-8333-333333333333";

let world: FakeAws;
let secrets: SecretsManagerClient;
beforeEach(async () => {
  world = new FakeAws({ now: () => Date.UTC(2026, 10, 21, 12), keyPropagationMs: 0 });
  secrets = world.clients({ accountId: HOME, region: "us-east-1" }).secrets();
  await secrets.send(new CreateSecretCommand({ Name: NAME, SecretString: "v1", ClientRequestToken: V1 }));
});

const stages = async () =>
  (await secrets.send(new DescribeSecretCommand({ SecretId: NAME }))).VersionIdsToStages ?? {};
const valueAt = async (VersionStage: string) =>
  (await secrets.send(new GetSecretValueCommand({ SecretId: NAME, VersionStage }))).SecretString;
const pending = (SecretString: string, ClientRequestToken: string) =>
  secrets.send(
    new PutSecretValueCommand({
      SecretId: NAME,
      SecretString,
      ClientRequestToken,
      VersionStages: ["AWSPENDING"],
    }),
  );

describe("staging labels", () => {
  it("a pending version leaves AWSCURRENT where it was; the same token again writes nothing", async () => {
    await pending("v2", V2);
    await pending("v2", V2);
    expect(await stages()).toEqual({ [V1]: ["AWSCURRENT"], [V2]: ["AWSPENDING"] });
    expect(await valueAt("AWSCURRENT")).toBe("v1");
    expect(await valueAt("AWSPENDING")).toBe("v2");
    expect(
      await secrets.send(new GetSecretValueCommand({ SecretId: NAME })).then((v) => v.SecretString),
    ).toBe("v1");
  });

  it("a second pending version takes the label from the first", async () => {
    await pending("v2", V2);
    await pending("v3", V3);
    expect(await stages()).toEqual({ [V1]: ["AWSCURRENT"], [V2]: [], [V3]: ["AWSPENDING"] });
  });

  it("moving AWSCURRENT labels the old version AWSPREVIOUS; removing AWSPENDING leaves the rest", async () => {
    await pending("v2", V2);
    await secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: NAME,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: V2,
        RemoveFromVersionId: V1,
      }),
    );
    await secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: NAME,
        VersionStage: "AWSPENDING",
        RemoveFromVersionId: V2,
      }),
    );
    expect(await stages()).toEqual({ [V1]: ["AWSPREVIOUS"], [V2]: ["AWSCURRENT"] });
    expect(await valueAt("AWSPREVIOUS")).toBe("v1");
  });

  it("refuses to move AWSCURRENT without naming the version that holds it", async () => {
    await pending("v2", V2);
    await expect(
      secrets.send(
        new UpdateSecretVersionStageCommand({
          SecretId: NAME,
          VersionStage: "AWSCURRENT",
          MoveToVersionId: V2,
        }),
      ),
    ).rejects.toMatchObject({ name: "InvalidParameterException" });
  });
});

describe("access key status", () => {
  it("refuses an Inactive key as AWS does, and accepts it again once Active", async () => {
    const target = "222222222222";
    world.addAccount(target, { roles: [] });
    const iam = world.clients({ accountId: target, region: "us-east-1" }).iam();
    await iam.send(new CreateUserCommand({ UserName: "redislabs-user" }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: "redislabs-user" }));
    const keys = {
      accessKeyId: AccessKey?.AccessKeyId ?? "",
      secretAccessKey: AccessKey?.SecretAccessKey ?? "",
    };
    const sts = world.clients({ accountId: target, region: "us-east-1" }).sts(keys);
    const set = (Status: "Active" | "Inactive") =>
      iam.send(
        new UpdateAccessKeyCommand({ UserName: "redislabs-user", AccessKeyId: keys.accessKeyId, Status }),
      );
    await set("Inactive");
    await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: "InvalidClientTokenId",
    });
    await set("Active");
    await expect(sts.send(new GetCallerIdentityCommand({}))).resolves.toMatchObject({
      Arn: `arn:aws:iam::${target}:user/redislabs-user`,
    });
  });
});
