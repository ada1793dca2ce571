import { randomInt } from "node:crypto";

/** The account's password policy, as GetAccountPasswordPolicy answers it (absent: IAM's default). */
export interface PasswordPolicy {
  MinimumPasswordLength?: number | undefined;
  RequireSymbols?: boolean | undefined;
  RequireNumbers?: boolean | undefined;
  RequireUppercaseCharacters?: boolean | undefined;
  RequireLowercaseCharacters?: boolean | undefined;
}

const CLASSES = [
  "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "abcdefghijklmnopqrstuvwxyz",
  "0123456789",
  // The symbols IAM counts as such in a password policy.
  "!@#$%^&*()_+-=[]{}|'",
];

/** IAM accepts passwords of up to 128 characters. */
const MAX_LENGTH = 128;
const PREFERRED_LENGTH = 32;

/**
 * A random console password that satisfies any account policy: one character of every class
 * (so every Require* holds), at least the policy's minimum length, from a CSPRNG.
 */
export function generatePassword(policy: PasswordPolicy = {}): string {
  const length = Math.min(MAX_LENGTH, Math.max(PREFERRED_LENGTH, policy.MinimumPasswordLength ?? 0));
  const all = CLASSES.join("");
  const chars = CLASSES.map((set) => pick(set));
  while (chars.length < length) chars.push(pick(all));
  // Fisher–Yates, so the guaranteed characters are not always first.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join("");
}

function pick(set: string): string {
  return set.charAt(randomInt(set.length));
}
