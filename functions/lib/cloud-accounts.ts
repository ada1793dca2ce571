import { type CloudAccount, type RedisCloud, RedisCloudError } from "./redis-cloud.ts";
import type { Target } from "./step.ts";

/*
 * How the product tells its cloud accounts at Redis from others: by name and access key. The
 * transport (./redis-cloud.ts) knows nothing of this.
 */

/** The account's name at Redis: the input's, else ValidateInput's default. */
export const cloudAccountName = (target: Target): string => target.accountName || `aws-${target.accountId}`;

/** The errors Redis gives a second cloud account with a name or key already registered. */
export const ALREADY_REGISTERED = new Set(["CLOUD_ACCOUNT_ACCESS_KEY_EXISTS", "CLOUD_ACCOUNT_NAME_EXISTS"]);

/**
 * Whether a listed access key is ours. The spec's example shows listed keys masked (`A***A`):
 * a masked key matches when its visible ends do, and is trusted only with the same name.
 */
function maskedMatch(listed: string, ours: string): boolean {
  const masked = /^([^*]*)\*+([^*]*)$/.exec(listed);
  if (!masked) return false;
  const [, head = "", tail = ""] = masked;
  return head.length + tail.length > 0 && ours.startsWith(head) && ours.endsWith(tail);
}

/** The cloud account registered with this access key, if Redis has one. */
export function findCloudAccountOfKey(
  accounts: CloudAccount[],
  accessKeyId: string,
  name: string,
): CloudAccount | undefined {
  return (
    accounts.find((account) => account.accessKeyId === accessKeyId) ??
    accounts.find(
      (account) =>
        account.name === name &&
        account.accessKeyId !== undefined &&
        maskedMatch(account.accessKeyId, accessKeyId),
    )
  );
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
  const accounts = await redis.listCloudAccounts();
  const ours = findCloudAccountOfKey(accounts, accessKeyId, name);
  if (ours) return ours;
  const holder = accounts.find((account) => account.name === name);
  const why = holder
    ? `cloud account ${holder.id} is already named "${name}" with another access key; rename or delete it at Redis Cloud, or onboard with another accountName`
    : `no cloud account this API key can see holds access key ${accessKeyId}; it may be registered in another Redis Cloud account`;
  throw new RedisCloudError(
    "RedisCloudConflict",
    `Redis Cloud refused to register cloud account "${name}" (${refusal}): ${why}`,
    409,
    refusal,
  );
}
