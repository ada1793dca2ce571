import { createHash } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { OrganizationsClient } from "@aws-sdk/client-organizations";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { describeAwsFailure, WorkflowError } from "./errors.ts";
import type { Target } from "./step.ts";

/** Where the function itself runs, read from its own ARN (no API call needed). */
export interface Home {
  partition: string;
  region: string;
  accountId: string;
}

export function homeFromFunctionArn(invokedFunctionArn: string): Home {
  const [, partition, , region, accountId] = invokedFunctionArn.split(":");
  if (!partition || !region || !accountId) {
    throw new WorkflowError("ConfigurationError", `cannot read the home account from ${invokedFunctionArn}`);
  }
  return { partition, region, accountId };
}

export type Credentials = ConstructorParameters<typeof IAMClient>[0] extends infer C
  ? C extends { credentials?: infer K }
    ? K
    : never
  : never;

/** How clients are made: real SDK clients in Lambda, the same clients wired to a fake in tests. */
export interface ClientFactory {
  /** The home account's IAM, or another's with the given credentials. */
  iam(credentials?: Credentials): IAMClient;
  /** The home account's STS, or STS signing with the given key (to prove a new key works). */
  sts(credentials?: Credentials): STSClient;
  secrets(): SecretsManagerClient;
  /** The home account's DynamoDB (the account registry). */
  dynamodb(): DynamoDBClient;
  /** The organization's, from its management account (or a delegated administrator). */
  organizations(): OrganizationsClient;
}

/**
 * Every SDK client, for local live runs against a real AWS (Lambda functions declare theirs:
 * see clients.ts). The home account's are made once and reused.
 */
export function sdkClients(region?: string): ClientFactory {
  const base = region ? { region } : {};
  let sts: STSClient | undefined;
  let secrets: SecretsManagerClient | undefined;
  let dynamodb: DynamoDBClient | undefined;
  let organizations: OrganizationsClient | undefined;
  return {
    iam: (credentials) => new IAMClient(credentials ? { ...base, credentials } : base),
    sts: (credentials) => {
      if (credentials) return new STSClient({ ...base, credentials });
      sts ??= new STSClient(base);
      return sts;
    },
    secrets: () => (secrets ??= new SecretsManagerClient(base)),
    dynamodb: () => (dynamodb ??= new DynamoDBClient(base)),
    organizations: () => (organizations ??= new OrganizationsClient(base)),
  };
}

/** STS session names allow `[\w+=,.@-]` and 64 characters; keep the execution's name readable. */
export function sessionName(execution: string): string {
  const name = `redis-byoc-${execution.replace(/[^\w+=,.@-]/g, "-")}`;
  if (name.length <= 64) return name;
  const digest = createHash("sha256").update(execution).digest("hex").slice(0, 8);
  return `${name.slice(0, 55)}-${digest}`;
}

interface CachedCredentials {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  expires: number;
}

/**
 * IAM clients for target accounts. The stack's own account is used directly; any other account
 * through STS AssumeRole of the target's role, with a session name that names the execution.
 * Credentials are cached for the container's life, until a minute before they expire.
 */
export class TargetClients {
  private readonly cache = new Map<string, CachedCredentials>();
  private ownIam: IAMClient | undefined;

  constructor(
    private readonly factory: ClientFactory,
    private readonly now: () => number = Date.now,
  ) {}

  async iamFor(home: Home, target: Target, execution: string, step: string): Promise<IAMClient> {
    if (target.accountId === home.accountId) {
      this.ownIam ??= this.factory.iam();
      return this.ownIam;
    }
    const roleArn = `arn:${home.partition}:iam::${target.accountId}:role/${target.roleName}`;
    const session = sessionName(execution);
    const key = `${roleArn}|${session}`;
    const cached = this.cache.get(key);
    if (cached && cached.expires - 60_000 > this.now()) return this.factory.iam(cached.credentials);
    const fresh = await this.assume(roleArn, session, step);
    this.cache.set(key, fresh);
    return this.factory.iam(fresh.credentials);
  }

  private async assume(roleArn: string, session: string, step: string): Promise<CachedCredentials> {
    const answer = await this.factory
      .sts()
      .send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: session, DurationSeconds: 900 }))
      .catch((error: unknown) => {
        throw targetFailure(step, roleArn, error);
      });
    const c = answer.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
      throw new WorkflowError("UnexpectedError", `${step}: AssumeRole ${roleArn} returned no credentials`);
    }
    return {
      credentials: {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
      },
      expires: c.Expiration?.getTime() ?? this.now() + 900_000,
    };
  }
}

/** A denied AssumeRole is the operator's to fix (role missing or not trusting us): say so. */
function targetFailure(step: string, roleArn: string, error: unknown): WorkflowError {
  const failure = describeAwsFailure(step, "AssumeRole", roleArn, error);
  if (failure.name !== "AccessDenied") return failure;
  return new WorkflowError(
    "TargetAccessDenied",
    `${failure.message}; check that the role exists in the target account and trusts this account`,
  );
}

/** One TargetClients per client factory: a warm container reuses the credentials it assumed. */
const targetClients = new WeakMap<ClientFactory, TargetClients>();

/** IAM in the step's target account: the home account's own, or through its access role. */
export function targetIam(
  runtime: Home & { clients: ClientFactory },
  input: { target: Target; execution: string },
  step: string,
): Promise<IAMClient> {
  let targets = targetClients.get(runtime.clients);
  if (!targets) {
    targets = new TargetClients(runtime.clients);
    targetClients.set(runtime.clients, targets);
  }
  return targets.iamFor(runtime, input.target, input.execution, step);
}
