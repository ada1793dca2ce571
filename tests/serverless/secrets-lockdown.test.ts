import { describe, expect, it } from "vitest";
import { packagedTemplate, type Resource, resourcesOfType, type Template } from "../support/template.ts";

/*
 * The credentials secrets are readable by the functions that read them and an optional reader
 * role, and by nobody else: a customer-managed key whose policy lets only those principals use it,
 * through Secrets Manager, and the secrets' own resource policy (see credentials-secret.test.ts).
 */

const template: Template = packagedTemplate();
/**
 * EnsureUser writes the secret, VerifyAccessKey checks its key, the registrar hands the key to
 * Redis, a plan reads whether the stored key and password are there.
 */
const READERS = [
  "EnsureUserIamRoleLambdaExecution",
  "VerifyAccessKeyIamRoleLambdaExecution",
  "RegistrarTickIamRoleLambdaExecution",
  "PlanOnboardingIamRoleLambdaExecution",
  // Credential rotation: the pending version is written and read back, the current password restored.
  "RotateCreateKeyIamRoleLambdaExecution",
  "RotateUndoIamRoleLambdaExecution",
  // --- Reconcile: its plan-mode reads, as a plan's ---
  "ReconcileAccountIamRoleLambdaExecution",
];
/** The roles a list of principals names, each by its logical id. */
const rolesNamed = (principals: unknown): string[] =>
  [...JSON.stringify(principals).matchAll(/"Fn::GetAtt":\["(\w+)","Arn"\]/g)]
    .map(([, id]) => id ?? "")
    .sort();
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
    // Those roles and no other: a function that no longer reads the secrets must not keep the key.
    expect(rolesNamed(use[0]?.Principal.AWS)).toEqual([...READERS].sort());
    const principals = JSON.stringify(use[0]?.Principal.AWS);
    expect(principals).toContain("SecretReaderRoleArn");
    expect(JSON.stringify(use[0]?.Condition)).toContain("kms:ViaService");
  });
});

describe("EnsureUser's settings", () => {
  it("name the key and the same readers, so the secrets' resource policy matches the key's", () => {
    expect(environment().CREDENTIALS_KEY_ARN).toEqual({ "Fn::GetAtt": ["CredentialsKey", "Arn"] });
    expect(rolesNamed(environment().SECRET_READER_ARNS)).toEqual([...READERS].sort());
    const readers = JSON.stringify(environment().SECRET_READER_ARNS);
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
