import { runSimulation } from "@cloud-copilot/iam-simulate";

/*
 * Turns the AWS calls a function made into the authorization requests AWS evaluates for them, and
 * evaluates those against the function's identity policy with @cloud-copilot/iam-simulate.
 */

export interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** One call as the in-memory AWS logs it (or a recording stub of another service). */
export interface AwsCall {
  /** The account whose credentials signed the call. */
  accountId: string;
  service: string;
  /** The operation, e.g. "CreateRole". */
  command: string;
  input: Record<string, unknown>;
}

/** One request AWS authorizes: a call's own action, or one its parameters imply (tags, PassRole). */
export interface AuthRequest {
  action: string;
  resource: string;
  /** The account owning the resource; for `*`, the caller's. */
  accountId: string;
  context: Record<string, string | string[]>;
  /** The resource's own policy, where the service evaluates one too (a role's trust policy). */
  resourcePolicy?: unknown;
  /** What made the request, for failure messages. */
  origin: string;
}

/** What a call's input does not say but its authorization depends on. */
export interface Lookups {
  /** A secret's ARN from its name or ARN (Secrets Manager authorizes the full ARN, suffix included). */
  secretArn(accountId: string, nameOrArn: string): string;
  /** The trust policy of the role an AssumeRole names, as its account holds it. */
  trustPolicy(roleArn: string): unknown;
  /** A DynamoDB table's ARN from its name (the region is the caller's, which a call does not name). */
  tableArn(accountId: string, tableName: string): string;
}

type IamResource = "policy" | "role" | "instance-profile" | "user" | "*";

/** The resource type each IAM operation is authorized on (the Service Authorization Reference's). */
const IAM_RESOURCES: Record<string, IamResource> = {
  GetPolicy: "policy",
  CreatePolicy: "policy",
  DeletePolicy: "policy",
  GetPolicyVersion: "policy",
  ListPolicyVersions: "policy",
  CreatePolicyVersion: "policy",
  DeletePolicyVersion: "policy",
  SetDefaultPolicyVersion: "policy",
  TagPolicy: "policy",
  GetRole: "role",
  CreateRole: "role",
  DeleteRole: "role",
  TagRole: "role",
  UpdateAssumeRolePolicy: "role",
  ListAttachedRolePolicies: "role",
  ListRolePolicies: "role",
  AttachRolePolicy: "role",
  DetachRolePolicy: "role",
  ListInstanceProfilesForRole: "role",
  GetInstanceProfile: "instance-profile",
  CreateInstanceProfile: "instance-profile",
  DeleteInstanceProfile: "instance-profile",
  TagInstanceProfile: "instance-profile",
  AddRoleToInstanceProfile: "instance-profile",
  RemoveRoleFromInstanceProfile: "instance-profile",
  GetUser: "user",
  CreateUser: "user",
  DeleteUser: "user",
  TagUser: "user",
  ListAttachedUserPolicies: "user",
  ListUserPolicies: "user",
  AttachUserPolicy: "user",
  DetachUserPolicy: "user",
  GetLoginProfile: "user",
  CreateLoginProfile: "user",
  UpdateLoginProfile: "user",
  DeleteLoginProfile: "user",
  ListAccessKeys: "user",
  CreateAccessKey: "user",
  DeleteAccessKey: "user",
  UpdateAccessKey: "user",
  GetAccountPasswordPolicy: "*",
};

/** Creating with tags is also authorized as tagging: IAM and Secrets Manager check both actions. */
const TAGGED_CREATE: Record<string, string> = {
  "iam:CreatePolicy": "iam:TagPolicy",
  "iam:CreateRole": "iam:TagRole",
  "iam:CreateInstanceProfile": "iam:TagInstanceProfile",
  "iam:CreateUser": "iam:TagUser",
  "secretsmanager:CreateSecret": "secretsmanager:TagResource",
};

const text = (value: unknown): string => (typeof value === "string" ? value : "");
const accountOf = (arn: string): string => arn.split(":")[4] ?? "";

/** The requests AWS authorizes for one call. Throws for a call it cannot place: add it here. */
export function requestsFor(call: AwsCall, lookups: Lookups): AuthRequest[] {
  const action = `${call.service}:${call.command}`;
  const origin = `${action} ${JSON.stringify(call.input)}`;
  const resolved = target(call, lookups);
  const primary: AuthRequest = {
    action,
    origin,
    ...resolved,
    context: { ...resolved.context, ...tagContext(call) },
  };
  const requests = [primary];
  const tagAction = TAGGED_CREATE[action];
  if (tagAction && tagKeys(call).length > 0) {
    requests.push({ ...primary, action: tagAction, origin: `${tagAction}, implied by ${origin}` });
  }
  // AWS documents that AddRoleToInstanceProfile also needs iam:PassRole on the role it adds.
  if (action === "iam:AddRoleToInstanceProfile") {
    const role = `arn:aws:iam::${call.accountId}:role/${text(call.input.RoleName)}`;
    const passRole = { action: "iam:PassRole", resource: role, accountId: call.accountId, context: {} };
    requests.push({ ...passRole, origin: `iam:PassRole, implied by ${origin}` });
  }
  return requests;
}

type Target = Pick<AuthRequest, "resource" | "accountId" | "context" | "resourcePolicy">;

function target(call: AwsCall, lookups: Lookups): Target {
  const { accountId, input } = call;
  const here = (resource: string): Target => ({ resource, accountId, context: {} });
  switch (call.service) {
    case "iam":
      return iamTarget(call);
    case "secretsmanager":
      return here(lookups.secretArn(accountId, text(input.SecretId ?? input.Name)));
    case "sts": {
      if (call.command === "GetCallerIdentity") return here("*");
      if (call.command !== "AssumeRole") break;
      const role = text(input.RoleArn);
      return { ...here(role), accountId: accountOf(role), resourcePolicy: lookups.trustPolicy(role) };
    }
    case "dynamodb":
      return here(lookups.tableArn(accountId, text(input.TableName)));
    // The organization's reads that AuthorizeTarget makes take no resource-level permission.
    case "organizations":
      return here("*");
    case "states": {
      const arn = text(input.executionArn ?? input.stateMachineArn);
      if (arn !== "") return here(arn);
      // Answering a task token takes no resource-level permission: the token names the task.
      if (call.command.startsWith("SendTask")) return here("*");
      break;
    }
  }
  throw new Error(`no resource known for ${call.service}:${call.command}: add it to iam-simulate.ts`);
}

function iamTarget(call: AwsCall): Target {
  const { accountId, input } = call;
  const kind = IAM_RESOURCES[call.command];
  if (kind === undefined)
    throw new Error(`no resource known for iam:${call.command}: add it to iam-simulate.ts`);
  const name = (field: string) => {
    const value = text(input[field]);
    if (value === "") throw new Error(`iam:${call.command} without ${field}: cannot name its resource`);
    return value;
  };
  const arn = (path: string) => `arn:aws:iam::${accountId}:${path}`;
  const context: Record<string, string> = {};
  // The key an Attach/Detach*Policy grant is usually conditioned on.
  if (/^(Attach|Detach)(Role|User)Policy$/.test(call.command)) context["iam:PolicyARN"] = name("PolicyArn");
  switch (kind) {
    case "*":
      return { resource: "*", accountId, context };
    case "policy": {
      const policy = text(input.PolicyArn) || arn(`policy${text(input.Path) || "/"}${name("PolicyName")}`);
      return { resource: policy, accountId: accountOf(policy), context };
    }
    case "role":
      return { resource: arn(`role/${name("RoleName")}`), accountId, context };
    case "instance-profile":
      return { resource: arn(`instance-profile/${name("InstanceProfileName")}`), accountId, context };
    case "user":
      return { resource: arn(`user/${name("UserName")}`), accountId, context };
  }
}

function tagKeys(call: AwsCall): { Key: string; Value: string }[] {
  const tags = call.input.Tags;
  return Array.isArray(tags) ? (tags as { Key: string; Value: string }[]) : [];
}

/** A request carrying tags offers them as aws:TagKeys and aws:RequestTag/<key>. */
function tagContext(call: AwsCall): Record<string, string | string[]> {
  const tags = tagKeys(call);
  if (tags.length === 0) return {};
  return {
    "aws:TagKeys": tags.map((tag) => tag.Key),
    ...Object.fromEntries(tags.map((tag) => [`aws:RequestTag/${tag.Key}`, tag.Value])),
  };
}

/** One action on one resource pattern of one statement (its index counts from 1, as IAM's). */
export interface Grant {
  statement: number;
  action: string;
  resource: string;
}

export const grantKey = (grant: Grant): string => `${grant.statement}|${grant.action}|${grant.resource}`;

/** Every action × resource pattern the policy grants, with the statement that grants it. */
export function grantsOf(policy: PolicyDocument): Grant[] {
  return policy.Statement.flatMap((statement, index) =>
    [statement.Action]
      .flat()
      .flatMap((action) =>
        [statement.Resource].flat().map((resource) => ({ statement: index + 1, action, resource })),
      ),
  );
}

export interface Verdict {
  allowed: boolean;
  /** iam-simulate's overall result (Allowed, ImplicitlyDenied, ExplicitlyDenied). */
  result: string;
  /** The grants of the identity policy that allowed the request. */
  usedGrants: Grant[];
}

/**
 * Evaluates the request as `principal`, whose only permissions are `policy`. Strict mode: every
 * condition is evaluated against the request's context, so an absent key fails its condition.
 */
export async function authorize(
  principal: string,
  policy: PolicyDocument,
  request: AuthRequest,
): Promise<Verdict> {
  const response = await runSimulation(
    {
      request: {
        principal,
        action: request.action,
        resource: { resource: request.resource, accountId: request.accountId },
        contextVariables: request.context,
      },
      identityPolicies: [{ name: "function-role", policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.resourcePolicy === undefined ? {} : { resourcePolicy: request.resourcePolicy }),
    },
    { simulationMode: "Strict" },
  );
  if (response.resultType === "error") {
    throw new Error(`iam-simulate cannot evaluate ${request.origin}: ${JSON.stringify(response.errors)}`);
  }
  const results = response.resultType === "single" ? [response.result] : response.results;
  const usedGrants = results.flatMap(({ analysis }) =>
    (analysis.identityAnalysis?.allowStatements ?? []).flatMap((allowing) => {
      const actions = [allowing.explain.actions ?? []].flat().filter((a) => a.matches);
      const resources = [allowing.explain.resources ?? []].flat().filter((r) => r.matches);
      const statement = allowing.statement.index();
      return actions.flatMap(({ action }) =>
        resources.map(({ resource }) => ({ statement, action, resource })),
      );
    }),
  );
  return { allowed: response.overallResult === "Allowed", result: response.overallResult, usedGrants };
}
