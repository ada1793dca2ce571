import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { IAMClient } from "@aws-sdk/client-iam";
import type { OrganizationsClient } from "@aws-sdk/client-organizations";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { STSClient } from "@aws-sdk/client-sts";
import type { MiddlewareObj } from "@middy/core";
import type { ClientFactory, Credentials } from "./aws.ts";
import { WorkflowError } from "./errors.ts";
import { tracer } from "./tracing.ts";

/** The SDK client classes a function calls; it bundles these and no others. */
export interface ClientClasses {
  iam?: typeof IAMClient;
  sts?: typeof STSClient;
  secrets?: typeof SecretsManagerClient;
  dynamodb?: typeof DynamoDBClient;
  organizations?: typeof OrganizationsClient;
}

export interface LambdaClients {
  factory: ClientFactory;
  /** Traces the handler; the clients are traced as they are made. */
  tracing: MiddlewareObj;
}

/**
 * Lambda's clients, made on first use from the classes the function declares and traced with
 * X-Ray. A client the function did not declare is a defect of its definition: it fails by name
 * instead of growing every bundle with every SDK.
 */
export function lambdaClients(classes: ClientClasses): LambdaClients {
  const made = new Map<string, unknown>();
  const make = <C extends object>(name: keyof ClientClasses, build: () => C | undefined): C => {
    const client = build();
    if (client === undefined) {
      throw new WorkflowError("ConfigurationError", `this function declares no ${name} client`);
    }
    return tracer.captureAWSv3Client(client);
  };
  const once = <C extends object>(name: keyof ClientClasses, build: () => C | undefined): C => {
    if (!made.has(name)) made.set(name, make(name, build));
    return made.get(name) as C;
  };
  const withCredentials = (credentials?: Credentials) => (credentials ? { credentials } : {});
  return {
    factory: {
      // Clients signing with other credentials (a target account's, the new user's) are not kept.
      iam: (credentials) =>
        credentials
          ? make("iam", () => classes.iam && new classes.iam(withCredentials(credentials)))
          : once("iam", () => classes.iam && new classes.iam({})),
      sts: (credentials) =>
        credentials
          ? make("sts", () => classes.sts && new classes.sts(withCredentials(credentials)))
          : once("sts", () => classes.sts && new classes.sts({})),
      secrets: () => once("secrets", () => classes.secrets && new classes.secrets({})),
      dynamodb: () => once("dynamodb", () => classes.dynamodb && new classes.dynamodb({})),
      organizations: () =>
        once("organizations", () => classes.organizations && new classes.organizations({})),
    },
    tracing: captureLambdaHandler(tracer),
  };
}
