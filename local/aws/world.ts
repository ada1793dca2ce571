import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient, type PasswordPolicy } from "@aws-sdk/client-iam";
import { OrganizationsClient } from "@aws-sdk/client-organizations";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { STSClient } from "@aws-sdk/client-sts";
import type { ClientFactory, Home } from "../../functions/lib/aws.ts";
import { dynamodbHandlers } from "./dynamodb-service.ts";
import { createRole, iamHandlers } from "./iam.ts";
import {
  type OrganizationAccount,
  organizationListHandlers,
  organizationsHandlers,
} from "./organizations.ts";
import { secretsHandlers } from "./secrets.ts";
import { type AccountSnapshot, snapshotOf } from "./snapshot.ts";
import type { AccountState, Caller, Request, Role, Service } from "./state.ts";
import { answered, awsError, key, metadataOf, newAccount, randomId, randomSecret } from "./state.ts";
import { stsHandlers } from "./sts.ts";

/** One request the fake received, refused ones too (`error` is then the error's name). */
export type FakeCall = {
  /** The account the caller acts in ("" when its credentials were refused). */
  accountId: string;
  service: Service;
  /** The operation without the SDK's "Command" suffix, e.g. "GetRole". */
  command: string;
  /** The input, with secret values replaced by "[redacted]". */
  input: Record<string, unknown>;
  error?: string;
};

export type FakeAwsOptions = {
  /** The clock in epoch milliseconds (default Date.now); `advance()` moves the fake's time past it. */
  now?: () => number;
  /** How long IAM refuses a new access key, until it has propagated (default 10 s). */
  keyPropagationMs?: number;
  /**
   * Answer where the HTTP request would be sent, after the SDK's retry middleware, so that the SDK
   * retries a throttle or a 5xx itself as it does against AWS (each attempt is then a call). Off by
   * default: an injected fault then stands for one that outlasted the SDK's attempts, which is what
   * the workflow's own Retry sees, and the fault matrix stays fast.
   */
  sdkRetries?: boolean;
};

export type Credentials = Parameters<ClientFactory["iam"]>[0];
type Answered = (args: { input: object }) => Promise<object>;
type Keys = { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined };
type Fault = { matches: (call: FakeCall) => boolean; error: Error | (() => Error); left: number };

/** The project's ClientFactory, whose STS clients may also sign with given keys (to try a new key). */
export interface FakeClientFactory extends ClientFactory {
  sts(credentials?: Credentials): STSClient;
}

/** What the fake uses of an SDK client; every SDK client of the services it fakes has it. */
type Wirable = {
  config: { credentials: () => Promise<Keys>; region: () => Promise<string> };
  middlewareStack: {
    add(middleware: (next: unknown, context: { commandName?: string }) => Answered, at: object): void;
  };
};

type Handler = (a: AccountState, input: never, r: Request) => object | undefined;
const HANDLERS: Record<Service, Record<string, Handler | undefined>> = {
  iam: iamHandlers,
  sts: stsHandlers,
  secretsmanager: secretsHandlers,
  dynamodb: dynamodbHandlers,
  organizations: { ...organizationsHandlers, ...organizationListHandlers },
};
const serviceOf = (client: object): Service =>
  client instanceof IAMClient
    ? "iam"
    : client instanceof STSClient
      ? "sts"
      : client instanceof DynamoDBClient
        ? "dynamodb"
        : client instanceof OrganizationsClient
          ? "organizations"
          : "secretsmanager";

/** What each service answers to credentials it refuses: unknown (or not yet propagated), expired. */
const REFUSED = {
  iam: ["InvalidClientTokenId", "ExpiredToken"],
  sts: ["InvalidClientTokenId", "ExpiredToken"],
  secretsmanager: ["UnrecognizedClientException", "ExpiredTokenException"],
  dynamodb: ["UnrecognizedClientException", "ExpiredTokenException"],
  organizations: ["UnrecognizedClientException", "ExpiredTokenException"],
} as const;

/** The calls log never holds a secret value. */
const SECRET_FIELDS = new Set(["Password", "SecretString", "SecretBinary", "SecretAccessKey"]);
const redact = (input: object) =>
  Object.fromEntries(Object.entries(input).map(([k, v]) => [k, SECRET_FIELDS.has(k) ? "[redacted]" : v]));

/** Reads change nothing; any other operation counts as a write. */
export const isWrite = (command: string): boolean => !/^(Get|List|Describe)/.test(command);

/** The access role `addAccount` pre-makes trusts any account: the fake has no organization. */
const OPEN_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "sts:AssumeRole" }],
});

/**
 * An in-memory AWS (IAM, STS, Secrets Manager, DynamoDB, Organizations) for local runs and tests. Real SDK clients are wired
 * to it by a middleware that answers each command before anything would be sent.
 */
export class FakeAws {
  readonly calls: FakeCall[] = [];
  /** The organization's member accounts, by id: only what AuthorizeTarget reads (parent, state). */
  readonly organization = new Map<string, OrganizationAccount>();
  keyPropagationMs: number;
  private readonly accounts = new Map<string, AccountState>();
  private readonly sessions = new Map<string, { keys: Keys; expires: number; caller: Caller }>();
  private readonly faults: Fault[] = [];
  private readonly clock: () => number;
  private readonly sdkRetries: boolean;
  private skew = 0;

  constructor(options: FakeAwsOptions = {}) {
    this.clock = options.now ?? Date.now;
    this.sdkRetries = options.sdkRetries ?? false;
    this.keyPropagationMs = options.keyPropagationMs ?? 10_000;
  }

  now(): Date {
    return new Date(this.clock() + this.skew);
  }

  advance(ms: number): void {
    this.skew += ms;
  }

  /** Adds the account if new, and the named roles (e.g. OrganizationAccountAccessRole) if missing. */
  addAccount(id: string, options: { roles?: string[] } = {}): AccountState {
    if (!/^\d{12}$/.test(id)) throw new Error(`FakeAws: ${id} is not an account id`);
    const account = this.accounts.get(id) ?? newAccount(id);
    this.accounts.set(id, account);
    for (const name of (options.roles ?? []).filter((role) => !account.roles.has(key(role)))) {
      createRole(account, { RoleName: name, AssumeRolePolicyDocument: OPEN_TRUST }, this.now());
    }
    return account;
  }

  /** Puts the account in the organization, under `parentId` (an OU or the root), ACTIVE unless told. */
  addOrganizationAccount(id: string, parentId: string, state: OrganizationAccount["state"] = "ACTIVE"): void {
    this.organization.set(id, { parentId, state });
  }

  // --- Bulk onboarding: the organization's OU tree, which the listing walks ---
  /** The organization's OUs, by id: each one's parent (the root or another OU). */
  readonly organizationalUnits = new Map<string, string>();

  /** Adds an OU under `parentId` (the root, `r-…`, or another OU). */
  addOrganizationalUnit(id: string, parentId: string): void {
    this.organizationalUnits.set(id, parentId);
  }

  findAccount(id: string): AccountState | undefined {
    return this.accounts.get(id);
  }

  /** The account's live state, for tests to inspect. */
  account(id: string): AccountState {
    const account = this.accounts.get(id);
    if (!account) throw new Error(`FakeAws: no account ${id}`);
    return account;
  }

  /** The access key with this id, in whichever account it is. */
  findAccessKey(accessKeyId: string): { accountId: string; CreateDate: Date } | undefined {
    for (const account of this.accounts.values()) {
      for (const user of account.users.values()) {
        const found = user.keys.find((k) => k.AccessKeyId === accessKeyId);
        if (found) return { accountId: account.id, CreateDate: found.CreateDate };
      }
    }
    return undefined;
  }

  /** Sets the account's password policy; undefined removes it. */
  setPasswordPolicy(accountId: string, policy: PasswordPolicy | undefined): void {
    const account = this.account(accountId);
    if (policy) account.passwordPolicy = { ...policy };
    else delete account.passwordPolicy;
  }

  /** Matching calls throw `error` (a function makes a new one each time), `times` times; answers an undo. */
  fail(matches: (call: FakeCall) => boolean, error: Error | (() => Error), times = Number.POSITIVE_INFINITY) {
    const fault = { matches, error, left: times };
    this.faults.push(fault);
    return (): void => {
      fault.left = 0;
    };
  }

  /** How many calls (those matching `filter`, if given) were writes. */
  writeCount(filter: (call: FakeCall) => boolean = () => true): number {
    return this.calls.filter((call) => isWrite(call.command) && filter(call)).length;
  }

  /**
   * Every account's resources, by account id, without any secret value; with `tables`, each
   * account's DynamoDB items too (a rollback's proofs compare IAM alone: a failed run's registry
   * item rightly says it failed).
   */
  snapshot(options: { tables?: boolean } = {}): Record<string, AccountSnapshot> {
    return Object.fromEntries(
      [...this.accounts.values()].map((a) => [
        a.id,
        options.tables ? { ...snapshotOf(a), tables: a.dynamodb.snapshot() } : snapshotOf(a),
      ]),
    );
  }

  /**
   * Clients that act in `home` (added if new) when given no credentials. Given the credentials of an
   * AssumeRole answer they act in the role's account; given an access key, as its user.
   */
  clients(home: Pick<Home, "accountId" | "region">): FakeClientFactory {
    this.addAccount(home.accountId);
    const role = { RoleName: "local-runner", RoleId: randomId("AROA") };
    const own = this.openSession(home.accountId, role, "local", Number.POSITIVE_INFINITY);
    const config = (credentials?: Credentials) => ({ region: home.region, credentials: credentials ?? own });
    return {
      iam: (credentials) => this.wire(new IAMClient(config(credentials))),
      sts: (credentials) => this.wire(new STSClient(config(credentials))),
      secrets: () => this.wire(new SecretsManagerClient(config())),
      dynamodb: () => this.wire(new DynamoDBClient(config())),
      organizations: () => this.wire(new OrganizationsClient(config())),
    };
  }

  /** Answers every command of this client from the fake, as the service would, without any HTTP. */
  wire<C extends IAMClient | STSClient | SecretsManagerClient | DynamoDBClient | OrganizationsClient>(
    client: C,
  ): C {
    const [service, wirable] = [serviceOf(client), client as unknown as Wirable];
    const middleware = (_next: unknown, context: { commandName?: string }) => (args: { input: object }) =>
      this.handle(service, wirable, (context.commandName ?? "").replace(/Command$/, ""), args.input);
    // The retry middleware is the first of the finalizeRequest step; "low" comes after it and signing.
    const at = this.sdkRetries
      ? { step: "finalizeRequest", name: "fakeAws", priority: "low" }
      : { step: "initialize", name: "fakeAws", priority: "high" };
    wirable.middlewareStack.add(middleware, at);
    return client;
  }

  /** Signing keys of a new session of the role, that expire after `seconds`. */
  openSession(accountId: string, role: Pick<Role, "RoleName" | "RoleId">, session: string, seconds: number) {
    const keys = {
      accessKeyId: randomId("ASIA"),
      secretAccessKey: randomSecret(),
      sessionToken: randomSecret(),
    };
    const arn = `arn:aws:sts::${accountId}:assumed-role/${role.RoleName}/${session}`;
    const principal = `arn:aws:iam::${accountId}:role/${role.RoleName}`;
    const caller: Caller = { accountId, arn, userId: `${role.RoleId}:${session}`, principal, kind: "role" };
    this.sessions.set(keys.accessKeyId, { keys, expires: this.now().getTime() + seconds * 1000, caller });
    return keys;
  }

  private async handle(service: Service, client: Wirable, command: string, input: object) {
    const call: FakeCall = { accountId: "", service, command, input: structuredClone(redact(input)) };
    this.calls.push(call);
    try {
      const caller = this.identify(service, await client.config.credentials());
      call.accountId = caller.accountId;
      const fault = this.faults.find((f) => f.left > 0 && f.matches(call));
      if (fault) fault.left -= 1;
      if (fault) throw typeof fault.error === "function" ? fault.error() : fault.error;
      const handler = HANDLERS[service][command];
      if (!handler) throw new Error(`FakeAws: ${service} ${command}Command is not implemented`);
      const request = { world: this, caller, region: await client.config.region(), now: this.now() };
      // Copies both ways, so that neither the caller nor the fake can change the other's objects.
      const answer = handler(this.account(caller.accountId), structuredClone(input) as never, request);
      return { output: { ...structuredClone(answer), $metadata: metadataOf(200) }, response: {} };
    } catch (error) {
      call.error = error instanceof Error ? error.name : String(error);
      throw answered(service, error);
    }
  }

  /** Who signs with these keys: a live role session, or a user's key once IAM has propagated it. */
  private identify(service: Service, keys: Keys): Caller {
    const refused = (expired = false) => {
      const message = `The security token included in the request is ${expired ? "expired" : "invalid"}.`;
      return awsError(service, REFUSED[service][expired ? 1 : 0], message);
    };
    const now = this.now().getTime();
    const session = this.sessions.get(keys.accessKeyId);
    const signature = (k: Keys) => `${k.accessKeyId}|${k.secretAccessKey}|${k.sessionToken}`;
    if (session && signature(session.keys) !== signature(keys)) throw refused();
    if (session && session.expires <= now) throw refused(true);
    if (session) return session.caller;
    for (const a of this.accounts.values()) {
      for (const user of a.users.values()) {
        const found = user.keys.find((k) => k.AccessKeyId === keys.accessKeyId);
        if (!found) continue;
        const propagated = found.CreateDate.getTime() + this.keyPropagationMs <= now;
        if (found.SecretAccessKey !== keys.secretAccessKey || !propagated) throw refused();
        if (found.Status === "Inactive") throw refused();
        return { accountId: a.id, arn: user.Arn, userId: user.UserId, principal: user.Arn, kind: "user" };
      }
    }
    throw refused();
  }
}
