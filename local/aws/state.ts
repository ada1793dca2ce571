import { randomInt, randomUUID } from "node:crypto";
import { DynamoDBServiceException } from "@aws-sdk/client-dynamodb";
import { IAMServiceException, type PasswordPolicy } from "@aws-sdk/client-iam";
import { OrganizationsServiceException } from "@aws-sdk/client-organizations";
import { SecretsManagerServiceException } from "@aws-sdk/client-secrets-manager";
import { STSServiceException } from "@aws-sdk/client-sts";
import type { CommandImpl } from "@smithy/core/client";
import { FakeDynamoDB } from "./dynamodb.ts";
import type { FakeAws } from "./world.ts";

// Resources are kept in the SDK's own shapes, plus lower-case fields for what AWS never answers.
export type Tag = { Key: string; Value: string };
type Entity = { Path: "/"; Arn: string; CreateDate: Date; Tags: Tag[] };
/** `trust` as IAM keeps it: re-serialized, bare account ids rewritten to root ARNs. */
export type Role = Entity & { RoleName: string; RoleId: string; Description?: string | undefined } & {
  MaxSessionDuration: number;
  trust: string;
  attached: string[];
  /** Inline policies by name, documents as sent; absent when there are none. */
  inline?: Record<string, string>;
};
export type InstanceProfile = Entity & { InstanceProfileName: string; InstanceProfileId: string } & {
  roles: string[];
};
export type PolicyVersion = { VersionId: string; CreateDate: Date; document: string };
/** Versions oldest first, documents exactly as sent; IAM never reuses a version number. */
export type Policy = Entity & { PolicyName: string; PolicyId: string; Description?: string | undefined } & {
  DefaultVersionId: string;
  versions: PolicyVersion[];
  nextVersion: number;
};
export type AccessKey = {
  AccessKeyId: string;
  SecretAccessKey: string;
  Status: "Active" | "Inactive";
  CreateDate: Date;
};
export type LoginProfile = { CreateDate: Date; PasswordResetRequired: boolean; password: string };
export type User = Entity & { UserName: string; UserId: string; attached: string[]; keys: AccessKey[] } & {
  login?: LoginProfile;
  inline?: Record<string, string>;
};
export type SecretVersion = { VersionId: string; SecretString: string; VersionStages: string[] } & {
  CreatedDate: Date;
};
/** `DeletedDate` is set while the secret is scheduled for deletion. */
export type Secret = { ARN: string; Name: string; Description?: string | undefined; Tags: Tag[] } & {
  CreatedDate: Date;
  DeletedDate?: Date;
  versions: SecretVersion[];
  /** The KMS key named at creation (none: the account's default key). */
  KmsKeyId?: string;
  ResourcePolicy?: string;
};

/** One account. IAM maps are keyed by lower-case name (IAM names ignore case), secrets by name. */
export type AccountState = {
  id: string;
  policies: Map<string, Policy>;
  roles: Map<string, Role>;
  instanceProfiles: Map<string, InstanceProfile>;
  users: Map<string, User>;
  secrets: Map<string, Secret>;
  /** The account's DynamoDB tables (the registry's, the lock's): one region is all this fake has. */
  dynamodb: FakeDynamoDB;
  /** Absent: GetAccountPasswordPolicy answers NoSuchEntity and IAM's default rules apply. */
  passwordPolicy?: PasswordPolicy;
};

export const newAccount = (id: string): AccountState => ({
  id,
  policies: new Map(),
  roles: new Map(),
  instanceProfiles: new Map(),
  users: new Map(),
  secrets: new Map(),
  dynamodb: new FakeDynamoDB(),
});

export const key = (name: string): string => name.toLowerCase();

export const randomText = (alphabet: string, length: number): string =>
  Array.from({ length }, () => alphabet.charAt(randomInt(alphabet.length))).join("");
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/** IAM's ids: a kind (AKIA, AROA, …) and 16 upper-case letters or digits. */
export const randomId = (kind: string): string => `${kind}${randomText(ALNUM, 16)}`;
export const randomSecret = (): string => randomText(`${ALNUM}abcdefghijklmnopqrstuvwxyz+/`, 40);

export type Service = "iam" | "sts" | "secretsmanager" | "dynamodb" | "organizations";
const BASES = {
  iam: IAMServiceException,
  sts: STSServiceException,
  secretsmanager: SecretsManagerServiceException,
  dynamodb: DynamoDBServiceException,
  organizations: OrganizationsServiceException,
};

/**
 * The HTTP status AWS answers each error code with, by service protocol: IAM and STS (query) use
 * 4xx by kind, Secrets Manager (JSON) answers every client error 400. The SDK keeps it in
 * `$metadata.httpStatusCode` and classifies by it (a 5xx is transient, a 429 a throttle), so a
 * fake error without it is classified as no AWS error ever is.
 */
const QUERY_STATUS: Record<string, number> = {
  AccessDenied: 403,
  InvalidClientTokenId: 403,
  RegionDisabled: 403,
  NoSuchEntity: 404,
  EntityAlreadyExists: 409,
  DeleteConflict: 409,
  LimitExceeded: 409,
  ConcurrentModification: 409,
  ServiceFailure: 500,
  InternalFailure: 500,
  ServiceUnavailable: 503,
};
const JSON_STATUS: Record<string, number> = { InternalServiceError: 500, ServiceUnavailable: 503 };

export function statusOf(service: Service, name: string, fault?: "client" | "server"): number {
  // Secrets Manager and Organizations speak JSON: every client error is a 400.
  const json = service === "secretsmanager" || service === "organizations";
  const code = json ? name : name.replace(/Exception$/, "");
  const known = (json ? JSON_STATUS : QUERY_STATUS)[code];
  return known ?? (fault === "server" ? 500 : 400);
}

/** What every AWS answer carries: its status and a request id (what support asks for). */
export const metadataOf = (httpStatusCode: number) => ({
  httpStatusCode,
  requestId: randomUUID(),
  attempts: 1,
  totalRetryDelay: 0,
});

/** An error the fake throws gets the status AWS would have answered it with, unless it has one. */
export function answered<E>(service: Service, error: E): E {
  const sdkError = error as { name?: unknown; $fault?: "client" | "server"; $metadata?: object };
  if (!(error instanceof Error) || typeof sdkError.$metadata !== "object") return error;
  const given = sdkError.$metadata as { httpStatusCode?: number };
  if (given.httpStatusCode !== undefined) return error;
  sdkError.$metadata = metadataOf(statusOf(service, error.name, sdkError.$fault));
  return error;
}

/**
 * An error the SDK has no class for (Throttling, AccessDenied, InvalidClientTokenId, …), built as
 * the SDK builds it from a response: the service's base exception, named by the error code, with
 * the HTTP status AWS answers it with. The fault follows the status unless given.
 */
export function awsError(service: Service, name: string, message = name, fault?: "client" | "server") {
  const status = statusOf(service, name, fault);
  const $fault = fault ?? (status >= 500 ? "server" : "client");
  return new BASES[service]({ name, $fault, message, $metadata: metadataOf(status) });
}

/** The SDK types required members as optional; AWS answers a missing one with a validation error. */
export function required<T>(service: Service, value: T | undefined, member: string): T {
  if (value !== undefined) return value;
  const name: Record<Service, string> = {
    iam: "ValidationError",
    sts: "ValidationError",
    secretsmanager: "InvalidParameterException",
    dynamodb: "ValidationException",
    organizations: "InvalidInputException",
  };
  throw awsError(service, name[service], `1 validation error detected: Value null at '${member}'`);
}

type SdkTag = { Key?: string | undefined; Value?: string | undefined };
export const tagsOf = (tags: SdkTag[] | undefined): Tag[] =>
  (tags ?? []).map((t) => ({ Key: t.Key ?? "", Value: t.Value ?? "" }));

/** A tag with a key already there replaces its value, as in every AWS service. */
export function addTags(target: { Tags: Tag[] }, tags: SdkTag[] | undefined): undefined {
  for (const tag of tagsOf(tags)) {
    target.Tags = [...target.Tags.filter((t) => t.Key !== tag.Key), tag];
  }
}

/** Who sends a request, from its signing keys; `principal` is what trust policies name. */
export type Caller = {
  accountId: string;
  arn: string;
  userId: string;
  principal: string;
  kind: "user" | "role";
};
export type Request = { world: FakeAws; caller: Caller; region: string; now: Date };

type Commands<M> = { [K in keyof M as K extends `${infer N}Command` ? N : never]: M[K] };
type Impl<C> = C extends new (...args: infer _) => infer Made ? Made : never;
type Io<C> =
  Impl<C> extends CommandImpl<infer I, infer O, infer _C, infer _S, infer _T>
    ? [I, Omit<O, "$metadata">]
    : never;

/**
 * One service's operations by name, typed by the SDK's input and output of each command; no answer
 * means an empty one. `a` is the caller's account.
 */
export type Handlers<M> = { [N in keyof Commands<M>]?: Handler<Io<Commands<M>[N]>> };
type Handler<T> = T extends [infer I, infer O] ? (a: AccountState, i: I, r: Request) => O | undefined : never;
