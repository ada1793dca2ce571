import { DescribeSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type LocalEnvironment, registryItemOf, startLocalEnvironment } from "../../local/environment.ts";

const TARGET = "222222222222";
let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const keysOf = () =>
  [...(env.aws.account(TARGET).users.get("redislabs-user")?.keys ?? [])].map((k) => ({
    id: k.AccessKeyId,
    status: k.Status,
  }));
const redisAccount = () => [...env.redis.state.accounts.values()][0];

describe("a full rotation", () => {
  it("puts Redis on a new active key, deletes the old one, and labels the versions", async () => {
    const onboarded = await env.run({ accountId: TARGET });
    expect(onboarded.status).toBe("SUCCEEDED");
    const oldKey = registryItemOf(env.dynamodb, TARGET)?.accessKeyId;
    const rotated = await env.runWorkflow("rotation", { accountId: TARGET, rotate: true });
    expect(rotated.error).toBeUndefined();
    expect(rotated.status).toBe("SUCCEEDED");
    const newKey = registryItemOf(env.dynamodb, TARGET)?.accessKeyId;
    expect(newKey).not.toBe(oldKey);
    expect(keysOf()).toEqual([{ id: newKey, status: "Active" }]);
    expect(redisAccount()?.accessKeyId).toBe(newKey);
    expect(redisAccount()?.status).toBe("active");
    const secrets = env.aws
      .clients({ partition: "aws", region: "us-east-1", accountId: "111111111111" })
      .secrets();
    const arn = registryItemOf(env.dynamodb, TARGET)?.secretArn;
    const current = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: arn, VersionStage: "AWSPREVIOUS" }),
    );
    expect(JSON.parse(current.SecretString ?? "{}").accessKeyId).toBe(newKey);
    expect(JSON.parse(previous.SecretString ?? "{}").accessKeyId).toBe(oldKey);
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(Object.values(described.VersionIdsToStages ?? {}).flat()).not.toContain("AWSPENDING");
  });
});
