import { type CloudAccount, type RedisCloud, RedisCloudError } from "./redis-cloud.ts";
import type { Target } from "./step.ts";

/*
 * How the product tells its cloud accounts at Redis from others: by the id the registry recorded,
 * else by name and the full access key read by id. The
 * transport (./redis-cloud.ts) knows nothing of this.
 */

/** The account's name at Redis: the input's, else ValidateInput's default. */
export const cloudAccountName = (target: Target): string => target.accountName || `aws-${target.accountId}`;

/** The errors Redis gives a second cloud account with a name or key already registered. */
export const ALREADY_REGISTERED = new Set(["CLOUD_ACCOUNT_ACCESS_KEY_EXISTS", "CLOUD_ACCOUNT_NAME_EXISTS"]);

/** A cloud account by id, or undefined when Redis has none of that id. */
export async function readCloudAccount(redis: RedisCloud, id: number): Promise<CloudAccount | undefined> {
  try {
    return await redis.getCloudAccount(id);
  } catch (error) {
    if (error instanceof RedisCloudError && error.status === 404) return undefined;
    throw error;
  }
}

/** Where to look for our cloud account: its name and key, and the id the registry recorded. */
export interface CloudAccountOfKey {
  name: string;
  accessKeyId: string;
  knownId?: number | undefined;
}

/**
 * The cloud account registered with this access key, if Redis has one. Redis may list keys masked
 * (`A***A`), and a masked key can match another AWS account's: a listed key is never trusted.
 * The registry's id is tried first; else each account of our name is read by id, and only the
 * full key read there decides.
 */
export async function findCloudAccountOfKey(
  redis: RedisCloud,
  { name, accessKeyId, knownId }: CloudAccountOfKey,
): Promise<CloudAccount | undefined> {
  if (knownId !== undefined) {
    const known = await readCloudAccount(redis, knownId);
    if (known?.accessKeyId === accessKeyId) return known;
  }
  const named = (await redis.listCloudAccounts()).filter((a) => a.name === name && a.id !== knownId);
  for (const candidate of named) {
    const full = await readCloudAccount(redis, candidate.id);
    if (full?.accessKeyId === accessKeyId) return full;
  }
  return undefined;
}

/**
 * After Redis refused a second registration (a concurrent run won the race): the winner's cloud
 * account when it holds our key; otherwise the name or key belongs to someone else.
 */
export async function adoptRegisteredAccount(
  redis: RedisCloud,
  accessKeyId: string,
  name: string,
  refusal: string,
): Promise<CloudAccount> {
  const ours = await findCloudAccountOfKey(redis, { name, accessKeyId });
  if (ours) return ours;
  const holder = (await redis.listCloudAccounts()).find((account) => account.name === name);
  const why = holder
    ? `cloud account ${holder.id} is already named "${name}" with another access key; rename or delete it at Redis Cloud, or onboard with another accountName`
    : `no cloud account named "${name}" that this API key can see holds access key ${accessKeyId}; it may be registered under another name or in another Redis Cloud account`;
  throw new RedisCloudError(
    "RedisCloudConflict",
    `Redis Cloud refused to register cloud account "${name}" (${refusal}): ${why}`,
    409,
    refusal,
  );
}
