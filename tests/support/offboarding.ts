import { HOME, type LocalEnvironment, registryItemOf } from "../../local/environment.ts";

/* What the offboarding's workflow tests and its fault matrix check after a run. */

export const TARGET = "222222222222";

export function productIam(env: LocalEnvironment) {
  const account = env.aws.account(TARGET);
  return {
    policies: [...account.policies.values()].map((p) => p.PolicyName),
    roles: [...account.roles.keys()].filter((r) => r.startsWith("redislabs")),
    users: [...account.users.keys()],
    profiles: [...account.instanceProfiles.keys()],
  };
}

export const credentialsSecret = (env: LocalEnvironment) =>
  [...env.aws.account(HOME.accountId).secrets.values()].find((s) => s.Name.endsWith(TARGET));

/** The end state of a full offboarding: nothing of the product's left but the scheduled deletion. */
export function expectOffboarded(
  env: LocalEnvironment,
  cloudAccountId: number,
  expect: typeof import("vitest").expect,
) {
  expect(productIam(env)).toEqual({ policies: [], roles: [], users: [], profiles: [] });
  expect(env.redis.state.accounts.has(cloudAccountId)).toBe(false);
  expect(credentialsSecret(env)?.DeletedDate).toBeInstanceOf(Date);
  const item = registryItemOf(env.dynamodb, TARGET);
  expect(item?.status).toBe("offboarded");
  expect(item?.resources).toEqual([]);
}

/**
 * The invariant after any run: while Redis holds the cloud account, the key the registry says it
 * uses exists and is active; the user never holds more than two keys; Redis holds at most one
 * cloud account for the account.
 */
export function expectInvariant(
  env: LocalEnvironment,
  cloudAccountId: number,
  expect: typeof import("vitest").expect,
) {
  const accounts = [...env.redis.state.accounts.values()].filter((a) => a.name === `aws-${TARGET}`);
  expect(accounts.length).toBeLessThanOrEqual(1);
  const user = [...env.aws.account(TARGET).users.values()].find((u) => u.UserName === "redislabs-user");
  const keys = user?.keys ?? [];
  expect(keys.length).toBeLessThanOrEqual(2);
  const atRedis = env.redis.state.accounts.get(cloudAccountId);
  if (atRedis) {
    const key = keys.find((k) => k.AccessKeyId === atRedis.accessKeyId);
    expect(key?.Status, `key ${atRedis.accessKeyId} Redis uses`).toBe("Active");
  }
}
