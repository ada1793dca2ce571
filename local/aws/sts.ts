import type * as sts from "@aws-sdk/client-sts";
import { assumeRoleContext, conditionHolds, type RequestContext } from "./conditions.ts";
import { statementsOf } from "./iam.ts";
import type { Caller, Handlers, Role } from "./state.ts";
import { awsError, key, required } from "./state.ts";

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);
const ACTIONS = ["*", "sts:*", "sts:assumerole"];
const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

/**
 * Whether the role's trust policy lets the caller in: an Allow of sts:AssumeRole to "*", the caller's
 * account root or the caller itself, whose conditions (MFA, external id) the request meets.
 */
function trusts(role: Role, caller: Caller, context: RequestContext): boolean {
  const accepted = ["*", `arn:aws:iam::${caller.accountId}:root`, caller.principal];
  return statementsOf(JSON.parse(role.trust)).some(({ Effect, Action, Principal: p, Condition }) => {
    const principals = p === "*" ? ["*"] : list(typeof p === "object" && p && "AWS" in p ? p.AWS : []);
    const assumes = list(Action).some((a) => ACTIONS.includes(String(a).toLowerCase()));
    const named = principals.some((principal) => accepted.includes(String(principal)));
    return Effect === "Allow" && assumes && named && conditionHolds(Condition, context);
  });
}

export const stsHandlers: Handlers<typeof sts> = {
  /** A missing account or role, or one that does not trust the caller, are the same AccessDenied in STS. */
  AssumeRole: (_, i, { world, caller, now }) => {
    const arn = required("sts", i.RoleArn, "roleArn");
    const session = required("sts", i.RoleSessionName, "roleSessionName");
    if (!/^[\w+=,.@-]{2,64}$/.test(session))
      throw awsError("sts", "ValidationError", "Invalid roleSessionName");
    const [, accountId = "", name = ""] = ROLE_ARN.exec(arn) ?? [];
    const role = world.findAccount(accountId)?.roles.get(key(name));
    const context = assumeRoleContext(i, caller.kind === "role");
    if (!role || !trusts(role, caller, context)) {
      const message = `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${arn}`;
      throw awsError("sts", "AccessDenied", message);
    }
    const seconds = i.DurationSeconds ?? 3600;
    // A role session assuming a role is role chaining, which AWS caps at one hour.
    const max = caller.kind === "role" ? 3600 : role.MaxSessionDuration;
    if (seconds < 900 || seconds > max)
      throw awsError("sts", "ValidationError", `DurationSeconds: 900 to ${max}`);
    const keys = world.openSession(accountId, role, session, seconds);
    const [AccessKeyId, SecretAccessKey, SessionToken] = [
      keys.accessKeyId,
      keys.secretAccessKey,
      keys.sessionToken,
    ];
    const Credentials = {
      AccessKeyId,
      SecretAccessKey,
      SessionToken,
      Expiration: new Date(now.getTime() + seconds * 1000),
    };
    const Arn = `arn:aws:sts::${accountId}:assumed-role/${role.RoleName}/${session}`;
    return { Credentials, AssumedRoleUser: { AssumedRoleId: `${role.RoleId}:${session}`, Arn } };
  },
  GetCallerIdentity: (_, _i, { caller: c }) => ({ UserId: c.userId, Account: c.accountId, Arn: c.arn }),
};
