import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as z from "zod";
import { lambdaClients } from "./clients.ts";
import { REGISTRY_SETTINGS } from "./config.ts";
import type { StepContext } from "./define-step.ts";
import { Registry } from "./registry.ts";

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

/** An error's name as the state machine reports it (`AccessDenied`, `States.Timeout`): no cause. */
export const ErrorNameSchema = z.string().regex(/^[\w.-]{1,128}$/, "must be an error name");
