import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  type SecretsManagerClient,
  TagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { beforeEach, describe, expect, it } from "vitest";
import { isNotFound } from "../../../functions/lib/step.ts";
import { FakeAws } from "../../../local/aws/index.ts";

const HOME = "111111111111";
const NAME = "redis-cloud/byoc/222222222222";
const TOKEN_A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TOKEN_B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

let world: FakeAws;
let secrets: SecretsManagerClient;

beforeEach(() => {
  // A fixed clock: the deletion date is checked to the millisecond.
  world = new FakeAws({ now: () => Date.UTC(2026, 10, 21, 12) });
  secrets = world.clients({ accountId: HOME, region: "eu-central-1" }).secrets();
});

const create = (SecretString = "v1", ClientRequestToken?: string) =>
  secrets.send(
    new CreateSecretCommand({
      Name: NAME,
      SecretString,
      ClientRequestToken,
      Tags: [{ Key: "k", Value: "v" }],
    }),
  );
const put = (SecretString: string, ClientRequestToken?: string, SecretId = NAME) =>
  secrets.send(new PutSecretValueCommand({ SecretId, SecretString, ClientRequestToken }));
const value = async (SecretId = NAME) =>
  (await secrets.send(new GetSecretValueCommand({ SecretId }))).SecretString;
const versionCount = () => world.account(HOME).secrets.get(NAME)?.versions.length;

describe("creating", () => {
  it("answers an ARN of the region and account with a 6-character suffix, and refuses a second secret of that name", async () => {
    const made = await create();
    expect(made.ARN).toMatch(
      new RegExp(`^arn:aws:secretsmanager:eu-central-1:${HOME}:secret:${NAME}-[A-Za-z0-9]{6}$`),
    );
    expect(made.Name).toBe(NAME);
    await expect(create("v1")).rejects.toBeInstanceOf(ResourceExistsException);
  });

  it("treats the same ClientRequestToken and value as the same request, and refuses another value with it", async () => {
    const first = await create("v1", TOKEN_A);
    const again = await create("v1", TOKEN_A);
    expect(again).toMatchObject({ ARN: first.ARN, VersionId: TOKEN_A });
    expect(versionCount()).toBe(1);
    await expect(create("other", TOKEN_A)).rejects.toBeInstanceOf(ResourceExistsException);
    expect(await value()).toBe("v1");
  });
});

describe("reading and writing values", () => {
  it("describes a secret by name or by ARN, with its tags and version stages", async () => {
    const { ARN } = await create("v1", TOKEN_A);
    for (const id of [NAME, ARN]) {
      const described = await secrets.send(new DescribeSecretCommand({ SecretId: id }));
      expect(described).toMatchObject({ ARN, Name: NAME, Tags: [{ Key: "k", Value: "v" }] });
      expect(described.VersionIdsToStages).toEqual({ [TOKEN_A]: ["AWSCURRENT"] });
      expect(described.CreatedDate).toBeInstanceOf(Date);
    }
    const unknown = await secrets
      .send(new DescribeSecretCommand({ SecretId: "nope" }))
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
    expect(isNotFound(unknown)).toBe(true);
  });

  it("makes a put value the current version and keeps the previous one", async () => {
    const { ARN } = await create("v1", TOKEN_A);
    const answer = await put("v2", TOKEN_B, ARN);
    expect(answer).toMatchObject({ ARN, VersionId: TOKEN_B, VersionStages: ["AWSCURRENT"] });
    expect(await value(ARN)).toBe("v2");
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: NAME, VersionStage: "AWSPREVIOUS" }),
    );
    expect(previous).toMatchObject({ SecretString: "v1", VersionId: TOKEN_A });
  });

  it("applies the same token rules to PutSecretValue", async () => {
    await create("v1", TOKEN_A);
    await put("v2", TOKEN_B);
    await put("v2", TOKEN_B);
    expect(versionCount()).toBe(2);
    await expect(put("v3", TOKEN_B)).rejects.toBeInstanceOf(ResourceExistsException);
    expect(await value()).toBe("v2");
  });

  it("adds tags with TagResource, replacing a tag of the same key", async () => {
    await create();
    await secrets.send(
      new TagResourceCommand({
        SecretId: NAME,
        Tags: [
          { Key: "k", Value: "new" },
          { Key: "x", Value: "1" },
        ],
      }),
    );
    const { Tags } = await secrets.send(new DescribeSecretCommand({ SecretId: NAME }));
    expect(Tags).toEqual([
      { Key: "k", Value: "new" },
      { Key: "x", Value: "1" },
    ]);
  });
});

describe("deleting", () => {
  it("schedules a deletion: the secret can then only be described, and its name is not free", async () => {
    await create();
    const deleted = await secrets.send(new DeleteSecretCommand({ SecretId: NAME, RecoveryWindowInDays: 7 }));
    expect(deleted.DeletionDate?.getTime()).toBe(world.now().getTime() + 7 * 86_400_000);

    expect((await secrets.send(new DescribeSecretCommand({ SecretId: NAME }))).DeletedDate).toBeInstanceOf(
      Date,
    );
    await expect(value()).rejects.toBeInstanceOf(InvalidRequestException);
    await expect(put("v2")).rejects.toBeInstanceOf(InvalidRequestException);
    await expect(create("v3")).rejects.toBeInstanceOf(InvalidRequestException);
    await expect(secrets.send(new DeleteSecretCommand({ SecretId: NAME }))).rejects.toBeInstanceOf(
      InvalidRequestException,
    );
  });

  it("removes the secret at once with ForceDeleteWithoutRecovery, even when scheduled", async () => {
    await create();
    await secrets.send(new DeleteSecretCommand({ SecretId: NAME }));
    await secrets.send(new DeleteSecretCommand({ SecretId: NAME, ForceDeleteWithoutRecovery: true }));
    await expect(secrets.send(new DescribeSecretCommand({ SecretId: NAME }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    await expect(create("again")).resolves.toMatchObject({ Name: NAME });
  });
});
