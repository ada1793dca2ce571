import { describe, expect, it } from "vitest";
import { packagedTemplate, type Resource, resourcesOfType, type Template } from "../support/template.ts";

/*
 * The credentials secrets are readable by the functions that read them and an optional reader
 * role, and by nobody else: a customer-managed key whose policy lets only those principals use it,
 * through Secrets Manager, and the secrets' own resource policy (see credentials-secret.test.ts).
 */

const template: Template = packagedTemplate();
const READERS = [
  "EnsureUserIamRoleLambdaExecution",
  "VerifyAccessKeyIamRoleLambdaExecution",
  "RegisterCloudAccountIamRoleLambdaExecution",
  "CheckRegistrationIamRoleLambdaExecution",
];
const USE = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"];

const key = (): Resource => {
  const keys = resourcesOfType(template, "AWS::KMS::Key");
  expect(keys).toHaveLength(1);
  const [, resource] = keys[0] ?? [];
  if (!resource) throw new Error("no KMS key");
  return resource;
};
type Statement = {
  Sid: string;
  Principal: { AWS: unknown };
  Action?: string[];
  NotAction?: string[];
  Condition?: unknown;
};
const statements = () => (key().Properties.KeyPolicy as { Statement: Statement[] }).Statement;
const environment = (): Record<string, unknown> => {
  const variables = template.Resources.EnsureUserLambdaFunction?.Properties.Environment as
    | { Variables?: Record<string, unknown> }
    | undefined;
  return variables?.Variables ?? {};
};

describe("the credentials secrets' KMS key", () => {
  it("rotates, and outlives the stack", () => {
    expect(key().Properties.EnableKeyRotation).toBe(true);
    expect((key() as Resource & { DeletionPolicy?: string }).DeletionPolicy).toBe("Retain");
  });

  it("lets the account administer it but not encrypt or decrypt with it", () => {
    const admin = statements().find((s) => s.Sid === "AdministerButNotUse");
    expect(admin?.Action).toBeUndefined();
    for (const action of USE) expect(admin?.NotAction).toContain(action);
  });

  it("lets only the secret readers use it, and only through Secrets Manager", () => {
    const use = statements().filter((s) => (s.Action ?? []).some((a) => USE.includes(a)));
    expect(use).toHaveLength(1);
    const principals = JSON.stringify(use[0]?.Principal.AWS);
    for (const role of READERS) expect(principals).toContain(role);
    expect(principals).toContain("SecretReaderRoleArn");
    expect(JSON.stringify(use[0]?.Condition)).toContain("kms:ViaService");
  });
});

describe("EnsureUser's settings", () => {
  it("name the key and the same readers, so the secrets' resource policy matches the key's", () => {
    expect(environment().CREDENTIALS_KEY_ARN).toEqual({ "Fn::GetAtt": ["CredentialsKey", "Arn"] });
    const readers = JSON.stringify(environment().SECRET_READER_ARNS);
    for (const role of READERS) expect(readers).toContain(role);
    expect(readers).toContain("SecretReaderRoleArn");
  });

  it("take the optional reader role from a stack parameter that accepts only a role ARN or nothing", () => {
    const parameter = (
      template as Template & { Parameters: Record<string, { Default: string; AllowedPattern: string }> }
    ).Parameters.SecretReaderRoleArn;
    expect(parameter?.Default).toBe("");
    const pattern = new RegExp(parameter?.AllowedPattern ?? "^$");
    expect(pattern.test("arn:aws:iam::111111111111:role/support-readers")).toBe(true);
    expect(pattern.test("*")).toBe(false);
  });
});
