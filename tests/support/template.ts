import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import type { Stack } from "./cfn.ts";

export interface Resource {
  Type: string;
  Properties: Record<string, unknown> & { Role?: unknown; Runtime?: string };
}

export interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, unknown>;
}

/** The CloudFormation template `serverless package` wrote in the global setup. */
export function packagedTemplate(): Template {
  const file = join(inject("packageDir"), "cloudformation-template-update-stack.json");
  return JSON.parse(readFileSync(file, "utf8")) as Template;
}

export const resourcesOfType = (template: Template, type: string) =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

/** Statements of a role's inline policies, flattened. */
export function roleStatements(template: Template, roleId: string): Record<string, unknown>[] {
  const role = template.Resources[roleId];
  const policies = (role?.Properties.Policies ?? []) as {
    PolicyDocument: { Statement: Record<string, unknown>[] };
  }[];
  return policies.flatMap((p) => p.PolicyDocument.Statement);
}

/**
 * Lambda's own statements in every function's role: writing the function's logs and sending its
 * X-Ray segments. The code never calls either; tests of what the code may do leave them out.
 */
export function isRuntimeStatement(statement: Record<string, unknown>): boolean {
  const actions = [statement.Action].flat().map(String);
  return (
    actions.every((a) => a.startsWith("logs:")) ||
    (actions.every((a) => a === "xray:PutTraceSegments" || a === "xray:PutTelemetryRecords") &&
      statement.Resource === "*")
  );
}

/** The logical id of the role a function runs with. */
export function functionRoleId(template: Template, functionId: string): string {
  const role = template.Resources[functionId]?.Properties.Role as
    | { "Fn::GetAtt"?: [string, string] }
    | undefined;
  return role?.["Fn::GetAtt"]?.[0] ?? "";
}

/** The test stage's pseudo parameters, to resolve the template's intrinsic functions; spread it to add refs. */
export const TEST_STACK: Stack = {
  partition: "aws",
  region: "us-east-1",
  accountId: "111111111111",
  refs: {},
  attributes: {},
};

/** A statement's actions, one or many. */
export const actionsOf = (statement: Record<string, unknown>): string[] =>
  [statement.Action].flat().map(String);

/** A function's role's statements other than its own log writing and tracing. */
export const functionGrants = (template: Template, functionId: string): Record<string, unknown>[] =>
  roleStatements(template, functionRoleId(template, functionId)).filter((s) => !isRuntimeStatement(s));
