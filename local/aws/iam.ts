import * as iam from "@aws-sdk/client-iam";
import type { AccountState, Handlers, LoginProfile, Policy, Role, User } from "./state.ts";
import { addTags, key, randomId, randomSecret, required, tagsOf } from "./state.ts";

const meta = { $metadata: {} };
const noSuchEntity = (message: string) => new iam.NoSuchEntityException({ message, ...meta });
const conflict = (message: string) => new iam.DeleteConflictException({ message, ...meta });
const limit = (message: string) => new iam.LimitExceededException({ message, ...meta });
const malformed = (message: string) => new iam.MalformedPolicyDocumentException({ message, ...meta });
const taken = (message: string) => new iam.EntityAlreadyExistsException({ message, ...meta });
const need = <T>(value: T | undefined, member: string): T => required("iam", value, member);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
export const statementsOf = (document: Json): Json[] => listOf(document.Statement).filter(isObject);

/**
 * IAM's size quotas, counted as IAM counts them: characters other than whitespace. A managed
 * policy's document may have 6,144; a role's trust policy 2,048 (the default quota).
 */
const SIZE_QUOTAS = { policy: ["PolicySize", 6144], trust: ["ACLSizePerRole", 2048] } as const;
export function checkSize(text: string, kind: "policy" | "trust"): void {
  const [quota, max] = SIZE_QUOTAS[kind];
  if (text.replace(/\s/g, "").length > max) throw limit(`Cannot exceed quota for ${quota}: ${max}`);
}

/** The condition operators IAM knows; ForAnyValue:/ForAllValues: and …IfExists may wrap them. */
const OPERATORS = new Set(
  [
    ...["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"],
    ...["StringLike", "StringNotLike", "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "Null"],
    ...["Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"].flatMap(
      (test) => [`Numeric${test}`, `Date${test}`],
    ),
    ...["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"],
  ].map((operator) => operator.toLowerCase()),
);
const operatorOf = (name: string) =>
  name
    .replace(/^For(AnyValue|AllValues):/i, "")
    .replace(/IfExists$/i, "")
    .toLowerCase();

/**
 * A Condition block as IAM accepts it: known operators, each mapping condition keys to a string,
 * boolean, number or a list of them. This is how a trust policy's MFA condition is checked.
 */
function checkCondition(condition: unknown): void {
  if (condition === undefined) return;
  if (!isObject(condition)) throw malformed("Syntax errors in policy.");
  for (const [operator, tests] of Object.entries(condition)) {
    if (!OPERATORS.has(operatorOf(operator))) throw malformed(`Invalid Condition type : ${operator}.`);
    if (!isObject(tests)) throw malformed("Syntax errors in policy.");
    const values = Object.values(tests).flatMap(listOf);
    if (!values.every((v) => ["string", "boolean", "number"].includes(typeof v))) {
      throw malformed("Syntax errors in policy.");
    }
  }
}

/** IAM's grammar as far as a reconcile can trip it: JSON, a Version, statements with their fields. */
function parseDocument(text: string | undefined, kind: "policy" | "trust"): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(need(text, "policyDocument"));
  } catch {
    throw malformed("Syntax errors in policy.");
  }
  if (!isObject(doc) || !["2012-10-17", "2008-10-17"].includes(String(doc.Version))) {
    throw malformed("The policy must contain a valid version string");
  }
  const statements = listOf(doc.Statement);
  if (!statements.length || !statements.every(isObject)) throw malformed("Missing required field Statement");
  const trust = kind === "trust";
  for (const s of statementsOf(doc)) {
    const [principal, resource] = [s.Principal ?? s.NotPrincipal, s.Resource ?? s.NotResource];
    if (s.Effect !== "Allow" && s.Effect !== "Deny") throw malformed("Missing required field Effect");
    if ((s.Action ?? s.NotAction) === undefined) throw malformed("Missing required field Action");
    if (trust && principal === undefined) throw malformed("Missing required field Principal");
    if (trust && resource !== undefined) throw malformed("Has prohibited field Resource");
    if (!trust && principal !== undefined) throw malformed("Policy document should not specify a principal.");
    if (!trust && resource === undefined) throw malformed("Missing required field Resource");
    checkCondition(s.Condition);
  }
  checkSize(need(text, "policyDocument"), kind);
  return doc;
}

/** IAM keeps a trust policy re-serialized, with a bare account id as principal turned into its root. */
function trustText(text: string | undefined): string {
  const doc = parseDocument(text, "trust");
  const root = (p: unknown) => (typeof p === "string" && /^\d{12}$/.test(p) ? `arn:aws:iam::${p}:root` : p);
  for (const { Principal: p } of statementsOf(doc)) {
    if (isObject(p) && p.AWS !== undefined) p.AWS = Array.isArray(p.AWS) ? p.AWS.map(root) : root(p.AWS);
  }
  return JSON.stringify(doc);
}

type Kind = "role" | "user" | "instance-profile" | "policy";
type Named = { Path?: string | undefined; Tags?: iam.Tag[] | undefined };

/** What every new entity has. Its name must be new in the account, whatever the case. */
function entity(a: AccountState, kind: Kind, name: string, i: Named, now: Date) {
  if (i.Path !== undefined && i.Path !== "/") throw new Error(`FakeAws: IAM path ${i.Path} is not supported`);
  const names = { role: a.roles, user: a.users, "instance-profile": a.instanceProfiles, policy: a.policies };
  if (names[kind].has(key(name))) throw taken(`${kind} ${name} already exists.`);
  const Arn = `arn:aws:iam::${a.id}:${kind}/${name}`;
  return { Path: "/" as const, Arn, CreateDate: now, Tags: tagsOf(i.Tags) };
}

function find<T>(map: Map<string, T>, name: string | undefined, what: string): T {
  const found = map.get(key(need(name, what)));
  if (!found) throw noSuchEntity(`The ${what} with name ${name} cannot be found.`);
  return found;
}
const roleOf = (a: AccountState, name?: string) => find(a.roles, name, "role");
const userOf = (a: AccountState, name?: string) => find(a.users, name, "user");
const profileOf = (a: AccountState, name?: string) => find(a.instanceProfiles, name, "instance profile");

const POLICY_ARN = /^arn:aws:iam::(\d{12}):policy\/([\w+=,.@-]+)$/;
/** Only this account's customer managed policies exist here: any other ARN is not attachable. */
function policyOf(a: AccountState, arn: string | undefined): Policy {
  const [, account, name = ""] = POLICY_ARN.exec(need(arn, "policyArn")) ?? [];
  const policy = account === a.id ? a.policies.get(key(name)) : undefined;
  if (!policy) throw noSuchEntity(`Policy ${arn} does not exist or is not attachable.`);
  return policy;
}
function versionOf(policy: Policy, id: string | undefined) {
  const version = policy.versions.find((v) => v.VersionId === need(id, "versionId"));
  if (!version) throw noSuchEntity(`Policy ${policy.Arn} version ${id} does not exist.`);
  return version;
}
function loginOf(user: User): LoginProfile {
  if (!user.login) throw noSuchEntity(`Login Profile for User ${user.UserName} cannot be found.`);
  return user.login;
}

/** Makes a role; also how the world pre-makes a target account's access role. */
export function createRole(a: AccountState, i: iam.CreateRoleCommandInput, now: Date): Role {
  const name = need(i.RoleName, "roleName");
  const role = { ...entity(a, "role", name, i, now), RoleName: name, RoleId: randomId("AROA") };
  const trust = trustText(i.AssumeRolePolicyDocument);
  const made = { ...role, Description: i.Description, MaxSessionDuration: i.MaxSessionDuration ?? 3600 };
  a.roles.set(key(name), { ...made, trust, attached: [] });
  return roleOf(a, name);
}

// What AWS answers: documents URL-encoded, never a password.
const encode = encodeURIComponent;
const roleOut = ({ trust, attached, inline, ...r }: Role) => ({
  ...r,
  AssumeRolePolicyDocument: encode(trust),
});
const userOut = ({ attached, keys, login, inline, ...user }: User) => user;

/** Inline policies: names listed, documents kept as sent (IAM answers them URL-encoded). */
const listInline = (holder: Role | User) => ({
  PolicyNames: Object.keys(holder.inline ?? {}),
  IsTruncated: false,
});
function putInline(holder: Role | User, name: string | undefined, document: string | undefined): undefined {
  parseDocument(document, "policy");
  holder.inline = { ...holder.inline, [need(name, "policyName")]: need(document, "policyDocument") };
  return undefined;
}
function deleteInline(holder: Role | User, name: string | undefined): undefined {
  const policyName = need(name, "policyName");
  if (holder.inline?.[policyName] === undefined)
    throw noSuchEntity(`The policy with name ${policyName} cannot be found.`);
  const { [policyName]: _gone, ...rest } = holder.inline;
  holder.inline = rest;
  return undefined;
}
const loginOut = ({ UserName }: User, { password, ...login }: LoginProfile) => ({ ...login, UserName });
const holdersOf = (a: AccountState, arn: string) =>
  [...a.roles.values(), ...a.users.values()].filter((h) => h.attached.includes(arn));
const policyOut = (a: AccountState, { versions, nextVersion, ...p }: Policy) => {
  const updated = versions.at(-1)?.CreateDate;
  return { ...p, AttachmentCount: holdersOf(a, p.Arn).length, IsAttachable: true, UpdateDate: updated };
};
const profileOut = (a: AccountState, name?: string) => {
  const { roles, ...profile } = profileOf(a, name);
  return { InstanceProfile: { ...profile, Roles: roles.map((role) => roleOut(roleOf(a, role))) } };
};

function attach(a: AccountState, holder: Role | User, arn: string | undefined): undefined {
  const policy = policyOf(a, arn);
  if (!holder.attached.includes(policy.Arn)) holder.attached.push(policy.Arn);
}
function detach(holder: Role | User, arn: string | undefined): undefined {
  if (!holder.attached.includes(need(arn, "policyArn"))) throw noSuchEntity(`Policy ${arn} was not found.`);
  holder.attached = holder.attached.filter((p) => p !== arn);
}
const listAttached = (a: AccountState, { attached }: Role | User) => ({
  AttachedPolicies: attached.map((arn) => ({ PolicyArn: arn, PolicyName: policyOf(a, arn).PolicyName })),
});

/** The account's password policy or, without one, IAM's default: 8 characters of 3 of the 4 classes. */
function checkPassword(a: AccountState, password: string | undefined): string {
  const value = need(password, "password");
  const classes = [/[A-Z]/, /[a-z]/, /\d/, /[!@#$%^&*()_+\-=[\]{}|']/].map((c) => c.test(value));
  const p = a.passwordPolicy;
  const wanted = [p?.RequireUppercaseCharacters, p?.RequireLowercaseCharacters, p?.RequireNumbers];
  const demanded = [...wanted, p?.RequireSymbols];
  const ok = p
    ? value.length >= (p.MinimumPasswordLength ?? 6) && classes.every((has, n) => has || !demanded[n])
    : value.length >= 8 && classes.filter(Boolean).length >= 3;
  if (ok && value.length <= 128) return value;
  const message = "Password does not conform to the account password policy.";
  throw new iam.PasswordPolicyViolationException({ message, ...meta });
}

export const iamHandlers: Handlers<typeof iam> = {
  GetPolicy: (a, i) => ({ Policy: policyOut(a, policyOf(a, i.PolicyArn)) }),
  CreatePolicy: (a, i, { now }) => {
    const name = need(i.PolicyName, "policyName");
    parseDocument(i.PolicyDocument, "policy");
    const versions = [{ VersionId: "v1", CreateDate: now, document: i.PolicyDocument ?? "" }];
    const made = { ...entity(a, "policy", name, i, now), PolicyName: name, PolicyId: randomId("ANPA") };
    const policy = { ...made, Description: i.Description, DefaultVersionId: "v1", versions, nextVersion: 2 };
    a.policies.set(key(name), policy);
    return { Policy: policyOut(a, policyOf(a, made.Arn)) };
  },
  DeletePolicy: (a, i) => {
    const policy = policyOf(a, i.PolicyArn);
    if (holdersOf(a, policy.Arn).length > 0) throw conflict("Cannot delete a policy attached to entities.");
    if (policy.versions.length > 1) throw conflict("Delete the policy's other versions first.");
    a.policies.delete(key(policy.PolicyName));
  },
  GetPolicyVersion: (a, i) => {
    const policy = policyOf(a, i.PolicyArn);
    const { document, ...version } = versionOf(policy, i.VersionId);
    const isDefault = version.VersionId === policy.DefaultVersionId;
    return { PolicyVersion: { ...version, Document: encode(document), IsDefaultVersion: isDefault } };
  },
  ListPolicyVersions: (a, i) => {
    const { versions, DefaultVersionId } = policyOf(a, i.PolicyArn);
    const listed = versions.map(({ document, ...v }) => ({
      ...v,
      IsDefaultVersion: v.VersionId === DefaultVersionId,
    }));
    return { Versions: listed.reverse() };
  },
  CreatePolicyVersion: (a, i, { now }) => {
    const policy = policyOf(a, i.PolicyArn);
    parseDocument(i.PolicyDocument, "policy");
    if (policy.versions.length >= 5) throw limit("A managed policy can have up to 5 versions.");
    const VersionId = `v${policy.nextVersion++}`;
    policy.versions.push({ VersionId, CreateDate: now, document: i.PolicyDocument ?? "" });
    if (i.SetAsDefault) policy.DefaultVersionId = VersionId;
    return { PolicyVersion: { VersionId, IsDefaultVersion: i.SetAsDefault ?? false, CreateDate: now } };
  },
  DeletePolicyVersion: (a, i) => {
    const policy = policyOf(a, i.PolicyArn);
    const version = versionOf(policy, i.VersionId);
    if (version.VersionId === policy.DefaultVersionId) throw conflict("Cannot delete the default version.");
    policy.versions = policy.versions.filter((v) => v !== version);
  },
  SetDefaultPolicyVersion: (a, i) => {
    const policy = policyOf(a, i.PolicyArn);
    policy.DefaultVersionId = versionOf(policy, i.VersionId).VersionId;
  },
  TagPolicy: (a, i) => addTags(policyOf(a, i.PolicyArn), need(i.Tags, "tags")),

  GetRole: (a, i) => ({ Role: roleOut(roleOf(a, i.RoleName)) }),
  CreateRole: (a, i, { now }) => ({ Role: roleOut(createRole(a, i, now)) }),
  DeleteRole: (a, i) => {
    const role = roleOf(a, i.RoleName);
    if (role.attached.length > 0) throw conflict("Cannot delete entity, must detach all policies first.");
    if (Object.keys(role.inline ?? {}).length > 0) {
      throw conflict("Cannot delete entity, must delete policies first.");
    }
    if ([...a.instanceProfiles.values()].some((p) => p.roles.includes(role.RoleName))) {
      throw conflict("Cannot delete entity, must remove roles from instance profile first.");
    }
    a.roles.delete(key(role.RoleName));
  },
  UpdateAssumeRolePolicy: (a, i) => {
    roleOf(a, i.RoleName).trust = trustText(i.PolicyDocument);
  },
  ListAttachedRolePolicies: (a, i) => listAttached(a, roleOf(a, i.RoleName)),
  AttachRolePolicy: (a, i) => attach(a, roleOf(a, i.RoleName), i.PolicyArn),
  DetachRolePolicy: (a, i) => detach(roleOf(a, i.RoleName), i.PolicyArn),
  ListRolePolicies: (a, i) => listInline(roleOf(a, i.RoleName)),
  PutRolePolicy: (a, i) => putInline(roleOf(a, i.RoleName), i.PolicyName, i.PolicyDocument),
  DeleteRolePolicy: (a, i) => deleteInline(roleOf(a, i.RoleName), i.PolicyName),
  TagRole: (a, i) => addTags(roleOf(a, i.RoleName), need(i.Tags, "tags")),

  GetInstanceProfile: (a, i) => profileOut(a, i.InstanceProfileName),
  CreateInstanceProfile: (a, i, { now }) => {
    const name = need(i.InstanceProfileName, "instanceProfileName");
    const made = { ...entity(a, "instance-profile", name, i, now), InstanceProfileName: name };
    a.instanceProfiles.set(key(name), { ...made, InstanceProfileId: randomId("AIPA"), roles: [] });
    return profileOut(a, name);
  },
  DeleteInstanceProfile: (a, i) => {
    const profile = profileOf(a, i.InstanceProfileName);
    if (profile.roles.length > 0) throw conflict("Cannot delete entity, must remove its role first.");
    a.instanceProfiles.delete(key(profile.InstanceProfileName));
  },
  AddRoleToInstanceProfile: (a, i) => {
    const [profile, role] = [profileOf(a, i.InstanceProfileName), roleOf(a, i.RoleName)];
    if (profile.roles.length > 0)
      throw limit("Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1");
    profile.roles.push(role.RoleName);
  },
  RemoveRoleFromInstanceProfile: (a, i) => {
    const [profile, role] = [profileOf(a, i.InstanceProfileName), roleOf(a, i.RoleName)];
    if (!profile.roles.includes(role.RoleName)) throw noSuchEntity(`Role ${role.RoleName} is not in it.`);
    profile.roles = profile.roles.filter((r) => r !== role.RoleName);
  },
  ListInstanceProfilesForRole: (a, i) => {
    const { RoleName } = roleOf(a, i.RoleName);
    const holding = [...a.instanceProfiles.values()].filter((p) => p.roles.includes(RoleName));
    return { InstanceProfiles: holding.map((p) => profileOut(a, p.InstanceProfileName).InstanceProfile) };
  },
  TagInstanceProfile: (a, i) => addTags(profileOf(a, i.InstanceProfileName), need(i.Tags, "tags")),

  // Without a name, IAM answers the calling user.
  GetUser: (a, i, { caller }) => ({ User: userOut(userOf(a, i.UserName ?? caller.arn.split("/").pop())) }),
  CreateUser: (a, i, { now }) => {
    const name = need(i.UserName, "userName");
    const made = { ...entity(a, "user", name, i, now), UserName: name, UserId: randomId("AIDA") };
    a.users.set(key(name), { ...made, attached: [], keys: [] });
    return { User: userOut(userOf(a, name)) };
  },
  DeleteUser: (a, i) => {
    const user = userOf(a, i.UserName);
    if (user.keys.length > 0) throw conflict("Cannot delete entity, must delete access keys first.");
    if (user.login) throw conflict("Cannot delete entity, must delete login profile first.");
    if (user.attached.length > 0) throw conflict("Cannot delete entity, must detach all policies first.");
    if (Object.keys(user.inline ?? {}).length > 0)
      throw conflict("Cannot delete entity, must delete policies first.");
    a.users.delete(key(user.UserName));
  },
  ListAttachedUserPolicies: (a, i) => listAttached(a, userOf(a, i.UserName)),
  AttachUserPolicy: (a, i) => attach(a, userOf(a, i.UserName), i.PolicyArn),
  DetachUserPolicy: (a, i) => detach(userOf(a, i.UserName), i.PolicyArn),
  ListUserPolicies: (a, i) => listInline(userOf(a, i.UserName)),
  PutUserPolicy: (a, i) => putInline(userOf(a, i.UserName), i.PolicyName, i.PolicyDocument),
  DeleteUserPolicy: (a, i) => deleteInline(userOf(a, i.UserName), i.PolicyName),
  TagUser: (a, i) => addTags(userOf(a, i.UserName), need(i.Tags, "tags")),

  GetLoginProfile: (a, i) => {
    const user = userOf(a, i.UserName);
    return { LoginProfile: loginOut(user, loginOf(user)) };
  },
  CreateLoginProfile: (a, i, { now }) => {
    const user = userOf(a, i.UserName);
    if (user.login) throw taken(`Login Profile for user ${user.UserName} already exists.`);
    const password = checkPassword(a, i.Password);
    user.login = { CreateDate: now, PasswordResetRequired: i.PasswordResetRequired ?? false, password };
    return { LoginProfile: loginOut(user, user.login) };
  },
  UpdateLoginProfile: (a, i) => {
    const login = loginOf(userOf(a, i.UserName));
    if (i.Password !== undefined) login.password = checkPassword(a, i.Password);
    login.PasswordResetRequired = i.PasswordResetRequired ?? login.PasswordResetRequired;
  },
  DeleteLoginProfile: (a, i) => {
    const user = userOf(a, i.UserName);
    loginOf(user);
    delete user.login;
  },

  ListAccessKeys: (a, i) => {
    const { UserName, keys } = userOf(a, i.UserName);
    return { AccessKeyMetadata: keys.map(({ SecretAccessKey, ...k }) => ({ ...k, UserName })) };
  },
  CreateAccessKey: (a, i, { now }) => {
    const user = userOf(a, i.UserName);
    if (user.keys.length >= 2) throw limit("Cannot exceed quota for AccessKeysPerUser: 2");
    const made = {
      AccessKeyId: randomId("AKIA"),
      SecretAccessKey: randomSecret(),
      Status: "Active" as const,
    };
    user.keys.push({ ...made, CreateDate: now });
    return { AccessKey: { ...made, CreateDate: now, UserName: user.UserName } };
  },
  /** Credential rotation: an old key is made Inactive before it is deleted, and Active again if Redis needs it. */
  UpdateAccessKey: (a, i) => {
    const user = userOf(a, i.UserName);
    const id = need(i.AccessKeyId, "accessKeyId");
    const key = user.keys.find((k) => k.AccessKeyId === id);
    if (!key) throw noSuchEntity(`The Access Key ${id} cannot be found.`);
    const status = need(i.Status, "status");
    if (status !== "Active" && status !== "Inactive") throw new Error(`FakeAws: status ${status}`);
    key.Status = status;
  },
  DeleteAccessKey: (a, i) => {
    const user = userOf(a, i.UserName);
    const id = need(i.AccessKeyId, "accessKeyId");
    if (!user.keys.some((k) => k.AccessKeyId === id))
      throw noSuchEntity(`The Access Key ${id} cannot be found.`);
    user.keys = user.keys.filter((k) => k.AccessKeyId !== id);
  },
  GetAccountPasswordPolicy: (a) => {
    if (!a.passwordPolicy) throw noSuchEntity(`The Password Policy of account ${a.id} cannot be found.`);
    return { PasswordPolicy: a.passwordPolicy };
  },
};
