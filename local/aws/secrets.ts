import { randomUUID } from "node:crypto";
import * as sm from "@aws-sdk/client-secrets-manager";
import type { AccountState, Handlers, Secret } from "./state.ts";
import { addTags, awsError, randomText, required, tagsOf } from "./state.ts";

const meta = { $metadata: {} };
const invalidRequest = (message: string) => new sm.InvalidRequestException({ message, ...meta });
const exists = (message: string) => new sm.ResourceExistsException({ message, ...meta });
const notFound = (message: string) => new sm.ResourceNotFoundException({ message, ...meta });
const need = <T>(value: T | undefined, member: string): T => required("secretsmanager", value, member);

/** By name or ARN; one scheduled for deletion only when `deleted` is allowed (Describe, Delete). */
function find(a: AccountState, id: string | undefined, deleted = false): Secret {
  const secret = [...a.secrets.values()].find((s) => s.Name === id || s.ARN === need(id, "SecretId"));
  if (!secret) throw notFound("Secrets Manager can't find the specified secret.");
  if (secret.DeletedDate && !deleted) throw invalidRequest("The secret is marked for deletion.");
  return secret;
}

/** A ClientRequestToken has 32 to 64 characters; AWS refuses any other before looking further. */
function checkToken(token: string | undefined): void {
  if (token === undefined || (token.length >= 32 && token.length <= 64)) return;
  const bound = token.length < 32 ? "greater than or equal to 32" : "less than or equal to 64";
  const message = `1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length ${bound}`;
  throw awsError("secretsmanager", "ValidationException", message);
}

/**
 * The ClientRequestToken is the version id: the same token and value again answer that version and
 * change nothing; the same token with another value is refused.
 */
function putValue(secret: Secret, token: string | undefined, value: string, now: Date, stages?: string[]) {
  const same = secret.versions.find((v) => v.VersionId === token);
  if (same && same.SecretString !== value) throw exists("You can't modify an existing version.");
  if (same) return same;
  // Labels named without AWSCURRENT (a rotation's AWSPENDING) move to the new version alone.
  if (stages && stages.length > 0 && !stages.includes("AWSCURRENT")) {
    for (const v of secret.versions) v.VersionStages = v.VersionStages.filter((s) => !stages.includes(s));
    const staged = { VersionId: token ?? randomUUID(), SecretString: value, VersionStages: [...stages] };
    secret.versions.push({ ...staged, CreatedDate: now });
    return staged;
  }
  for (const v of secret.versions) {
    const previous = v.VersionStages.includes("AWSCURRENT") ? ["AWSPREVIOUS"] : [];
    v.VersionStages = [...v.VersionStages.filter((s) => !s.startsWith("AWS")), ...previous];
  }
  const version = { VersionId: token ?? randomUUID(), SecretString: value, VersionStages: ["AWSCURRENT"] };
  secret.versions.push({ ...version, CreatedDate: now });
  return version;
}

export const secretsHandlers: Handlers<typeof sm> = {
  CreateSecret: (a, i, { region, now }) => {
    const Name = need(i.Name, "Name");
    checkToken(i.ClientRequestToken);
    const existing = a.secrets.get(Name);
    if (existing?.DeletedDate) throw invalidRequest(`The secret ${Name} is scheduled for deletion.`);
    const same = existing?.versions.find((v) => v.VersionId === i.ClientRequestToken);
    // The same request again (same token, same value) answers the secret as created.
    if (existing && same && same.SecretString === i.SecretString) {
      return { ARN: existing.ARN, Name, VersionId: same.VersionId };
    }
    if (existing) throw exists(`The secret ${Name} already exists.`);
    if (i.SecretBinary !== undefined) throw new Error("FakeAws: SecretBinary is not supported");
    const suffix = randomText("abcdefghijklmnopqrstuvwxyz0123456789", 6);
    const ARN = `arn:aws:secretsmanager:${region}:${a.id}:secret:${Name}-${suffix}`;
    const secret = {
      ARN,
      Name,
      Description: i.Description,
      Tags: tagsOf(i.Tags),
      CreatedDate: now,
      versions: [],
      ...(i.KmsKeyId ? { KmsKeyId: i.KmsKeyId } : {}),
    };
    a.secrets.set(Name, secret);
    if (i.SecretString === undefined) return { ARN, Name };
    return { ARN, Name, VersionId: putValue(secret, i.ClientRequestToken, i.SecretString, now).VersionId };
  },
  DescribeSecret: (a, i) => {
    const { versions, ...secret } = find(a, i.SecretId, true);
    const stages = Object.fromEntries(versions.map((v) => [v.VersionId, v.VersionStages]));
    return { ...secret, VersionIdsToStages: stages };
  },
  GetSecretValue: (a, i) => {
    const { ARN, Name, versions } = find(a, i.SecretId);
    const stage = i.VersionStage ?? (i.VersionId ? undefined : "AWSCURRENT");
    const version = versions.find(
      (v) => v.VersionId === i.VersionId || v.VersionStages.includes(stage ?? ""),
    );
    if (!version) throw notFound(`Secrets Manager can't find the version ${i.VersionId ?? stage}.`);
    return { ARN, Name, ...version };
  },
  PutSecretValue: (a, i, { now }) => {
    checkToken(i.ClientRequestToken);
    const secret = find(a, i.SecretId);
    const value = need(i.SecretString, "SecretString");
    const { VersionId, VersionStages } = putValue(secret, i.ClientRequestToken, value, now, i.VersionStages);
    return { ARN: secret.ARN, Name: secret.Name, VersionId, VersionStages };
  },
  /** Without ForceDeleteWithoutRecovery the secret stays, unusable, for its recovery window. */
  DeleteSecret: (a, i, { now }) => {
    const secret = find(a, i.SecretId, true);
    if (i.ForceDeleteWithoutRecovery) a.secrets.delete(secret.Name);
    else if (secret.DeletedDate) throw invalidRequest("The secret is already scheduled for deletion.");
    else secret.DeletedDate = now;
    const days = i.ForceDeleteWithoutRecovery ? 0 : (i.RecoveryWindowInDays ?? 30);
    const DeletionDate = new Date(now.getTime() + days * 86_400_000);
    return { ARN: secret.ARN, Name: secret.Name, DeletionDate };
  },
  TagResource: (a, i) => addTags(find(a, i.SecretId), need(i.Tags, "Tags")),
  /** A key not on the secret is no error, as in AWS. */
  UntagResource: (a, i) => {
    const secret = find(a, i.SecretId);
    const keys = new Set(need(i.TagKeys, "TagKeys"));
    secret.Tags = secret.Tags.filter((tag) => !keys.has(tag.Key));
  },
  /** A secret without a policy answers no ResourcePolicy, as AWS does. */
  GetResourcePolicy: (a, i) => {
    const { ARN, Name, ResourcePolicy } = find(a, i.SecretId);
    return ResourcePolicy === undefined ? { ARN, Name } : { ARN, Name, ResourcePolicy };
  },
  DeleteResourcePolicy: (a, i) => {
    const secret = find(a, i.SecretId);
    delete secret.ResourcePolicy;
    return { ARN: secret.ARN, Name: secret.Name };
  },
  /**
   * Moves a staging label. Moving AWSCURRENT also labels the version that held it AWSPREVIOUS,
   * as Secrets Manager does; moving a label that is elsewhere needs RemoveFromVersionId.
   */
  UpdateSecretVersionStage: (a, i) => {
    const secret = find(a, i.SecretId);
    const stage = need(i.VersionStage, "VersionStage");
    const holder = secret.versions.find((v) => v.VersionStages.includes(stage));
    const target = i.MoveToVersionId
      ? secret.versions.find((v) => v.VersionId === i.MoveToVersionId)
      : undefined;
    if (i.MoveToVersionId && !target) {
      throw new sm.ResourceNotFoundException({ message: `Version ${i.MoveToVersionId} not found.`, ...meta });
    }
    if (holder && holder !== target && holder.VersionId !== i.RemoveFromVersionId) {
      throw new sm.InvalidParameterException({
        message: `The staging label ${stage} is attached to version ${holder.VersionId}; name it in RemoveFromVersionId.`,
        ...meta,
      });
    }
    if (holder && holder !== target) holder.VersionStages = holder.VersionStages.filter((s) => s !== stage);
    if (target && !target.VersionStages.includes(stage)) target.VersionStages.push(stage);
    if (stage === "AWSCURRENT" && holder && target && holder !== target) {
      for (const v of secret.versions) v.VersionStages = v.VersionStages.filter((s) => s !== "AWSPREVIOUS");
      holder.VersionStages.push("AWSPREVIOUS");
    }
    return { ARN: secret.ARN, Name: secret.Name };
  },
  /** AWS checks the document's grammar; here it must at least be JSON. */
  PutResourcePolicy: (a, i) => {
    const secret = find(a, i.SecretId);
    const policy = need(i.ResourcePolicy, "ResourcePolicy");
    try {
      JSON.parse(policy);
    } catch {
      throw new sm.MalformedPolicyDocumentException({
        message: "This resource policy contains a syntax error.",
        ...meta,
      });
    }
    secret.ResourcePolicy = policy;
    return { ARN: secret.ARN, Name: secret.Name };
  },
};
