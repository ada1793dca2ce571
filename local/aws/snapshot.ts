import type { AccountState } from "./state.ts";

const values = <T>(map: Map<string, T>): T[] => [...map.values()];

/** An account's resources as plain data, without any secret value (password, key secret, secret string). */
export function snapshotOf(a: AccountState) {
  const users = values(a.users).map(({ login, keys, ...user }) => ({
    ...user,
    login: login !== undefined,
    keys: keys.map((k) => k.AccessKeyId),
  }));
  const secrets = values(a.secrets).map(({ versions, ...secret }) => ({
    ...secret,
    versions: versions.map(({ SecretString, ...version }) => version),
  }));
  const [policies, roles, instanceProfiles] = [
    values(a.policies),
    values(a.roles),
    values(a.instanceProfiles),
  ];
  return structuredClone({
    policies,
    roles,
    instanceProfiles,
    users,
    secrets,
    passwordPolicy: a.passwordPolicy,
  });
}

/** `tables`: the account's DynamoDB items, when asked for. */
export type AccountSnapshot = ReturnType<typeof snapshotOf> & { tables?: Record<string, unknown[]> };
