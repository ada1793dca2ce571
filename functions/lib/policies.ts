// The documents are bundled from policies/ at build time: the files there are the only copy.

import { createHash } from "node:crypto";
import instancePolicy from "../../policies/RedisLabsInstanceRolePolicy.json" with { type: "json" };
import userPolicy from "../../policies/RedislabsIAMUserRestrictedPolicy.json" with { type: "json" };
import nodeRoleTrust from "../../policies/redislabs-cluster-node-role.trust.json" with { type: "json" };
import consoleRoleTrust from "../../policies/redislabs-role.trust.json" with { type: "json" };
import { CONSOLE_ROLE_NAME, INSTANCE_POLICY_NAME, NODE_ROLE_NAME, USER_POLICY_NAME } from "./config.ts";

export const MANAGED_POLICIES = {
  [INSTANCE_POLICY_NAME]: instancePolicy,
  [USER_POLICY_NAME]: userPolicy,
} as const;

export const TRUST_POLICIES = { nodeRole: nodeRoleTrust, consoleRole: consoleRoleTrust } as const;

export const policyArn = (partition: string, accountId: string, name: string): string =>
  `arn:${partition}:iam::${accountId}:policy/${name}`;

/** IAM answers documents URL-encoded (GetPolicyVersion, GetRole); we send them as plain JSON. */
export function decodePolicyDocument(document: string): unknown {
  const text = document.trimStart().startsWith("{") ? document : decodeURIComponent(document);
  return JSON.parse(text);
}

/** Keys whose value IAM treats as a set: one string and a one-element list mean the same. */
const SET_VALUED = new Set(["Action", "NotAction", "Resource", "NotResource"]);

/**
 * A canonical form of a policy in which equal policies are equal text: key order, statement
 * order, single values vs lists and an account id vs its root ARN in a principal do not matter.
 */
export function canonicalPolicy(policy: unknown): string {
  return JSON.stringify(canonical(policy, ""));
}

export function samePolicy(a: unknown, b: unknown): boolean {
  return canonicalPolicy(a) === canonicalPolicy(b);
}

function canonical(value: unknown, key: string): unknown {
  if (key === "Statement") {
    const statements = Array.isArray(value) ? value : [value];
    return statements.map((s) => JSON.stringify(canonical(s, ""))).sort();
  }
  if (key === "AWS") return asSet(value).map(rootArn).sort();
  if (SET_VALUED.has(key) || key === "Service" || key === "Federated") return asSet(value).sort();
  if (Array.isArray(value)) return value.map((item) => canonical(item, ""));
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => [k, canonical(v, k)] as const)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    // Condition operators (StringEquals, Bool, …) map keys to value sets.
    const operatorBlock = CONDITION_OPERATOR.test(key);
    return Object.fromEntries(entries.map(([k, v]) => [k, operatorBlock ? asSet(v).sort() : v]));
  }
  return value;
}

const CONDITION_OPERATOR =
  /^(ForAllValues:|ForAnyValue:)?(String|Numeric|Date|Bool|Binary|IpAddress|NotIpAddress|Arn|Null)\w*(IfExists)?$/;

function asSet(value: unknown): string[] {
  const values = Array.isArray(value) ? value : [value];
  return [...new Set(values.map(String))];
}

function rootArn(principal: string): string {
  return /^\d{12}$/.test(principal) ? `arn:aws:iam::${principal}:root` : principal;
}

/**
 * sha256 of each shipped document, by what it is applied to: what a successful run left in the
 * account, so that a later release (or a reconcile) can tell which accounts carry an older one.
 */
export function shippedDocumentHashes(): Record<string, string> {
  const hash = (document: unknown) => createHash("sha256").update(JSON.stringify(document)).digest("hex");
  return {
    [`policy ${INSTANCE_POLICY_NAME}`]: hash(MANAGED_POLICIES[INSTANCE_POLICY_NAME]),
    [`policy ${USER_POLICY_NAME}`]: hash(MANAGED_POLICIES[USER_POLICY_NAME]),
    [`trust policy of ${NODE_ROLE_NAME}`]: hash(TRUST_POLICIES.nodeRole),
    [`trust policy of ${CONSOLE_ROLE_NAME}`]: hash(TRUST_POLICIES.consoleRole),
  };
}
