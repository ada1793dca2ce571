import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import * as z from "zod";
import { lambdaClients } from "./clients.ts";
import { REDIS_SETTINGS, REGISTRY_SETTINGS, type SettingsOf } from "./config.ts";
import type { StepContext } from "./define-step.ts";
import { type RedisStepDeps, redisStep } from "./redis-api-keys.ts";
import { type RegistrationStore, Registry } from "./registry.ts";

/*
 * What the three states that begin and end a run in the account registry share: the step input,
 * the table's name, and DynamoDB in the home account (GetItem and PutItem on that table only).
 */

export const registryStep = {
  settings: REGISTRY_SETTINGS,
  clients: lambdaClients({ dynamodb: DynamoDBClient }),
  deps: ({ runtime, step }: StepContext<unknown, { registryTableName: string }>) => ({
    registry: new Registry(runtime.clients.dynamodb(), runtime.config.registryTableName, step),
  }),
};

/** A Redis Cloud step that also records its registration in the registry. */
export interface RedisRegistryDeps extends RedisStepDeps {
  registry: RegistrationStore;
}

type RedisRegistrySettings = SettingsOf<"apiKeysSecret" | "apiUrl" | "registryTableName">;

/**
 * RegisterCloudAccount and CheckRegistration: Redis Cloud, and the registry, where the request is
 * recorded before it is sent (so that its cloud account is known even when its answer is lost).
 */
export const redisRegistryStep = {
  ...redisStep,
  settings: [...REDIS_SETTINGS, "registryTableName"] as const,
  clients: lambdaClients({ secrets: SecretsManagerClient, dynamodb: DynamoDBClient }),
  deps: async (
    context: StepContext<unknown, RedisRegistrySettings>,
  ): Promise<RedisRegistryDeps & { registry: Registry }> => ({
    ...(await redisStep.deps(context)),
    ...registryStep.deps(context),
  }),
};

/** An error's name as the state machine reports it (`AccessDenied`, `States.Timeout`): no cause. */
export const ErrorNameSchema = z.string().regex(/^[\w.-]{1,128}$/, "must be an error name");
