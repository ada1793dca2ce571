import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { readSettings } from "./config.ts";
import { reconcileOf } from "./reconcile-registry.ts";
import { Registry, type RegistryItem } from "./registry.ts";
import { tracer } from "./tracing.ts";

/*
 * Event storms: a landing-zone update re-sends UpdateManagedAccount for every account. An account
 * the registry says is active, and that a reconcile found clean within the window, is not
 * onboarded again: the event starts nothing, costs Redis nothing, and is counted on its own. Any
 * other account (never reconciled, drifted, failed, reconciled too long ago) is started as before.
 */

export interface StormGate {
  registry: { get(accountId: string): Promise<RegistryItem | undefined> };
  windowMs: number;
  now: () => Date;
}

/** Why the event starts nothing (the account is in hand), or undefined: start as before. */
export async function reconciledRecently(accountId: string, gate: StormGate): Promise<string | undefined> {
  const item = await gate.registry.get(accountId);
  if (item?.status !== "active") return undefined;
  const { reconciledAt, drift } = reconcileOf(item);
  if (reconciledAt === undefined || drift === undefined || drift.length > 0) return undefined;
  const age = gate.now().getTime() - Date.parse(reconciledAt);
  if (!(age >= 0 && age <= gate.windowMs)) return undefined;
  return `account ${accountId} is active and was reconciled clean at ${reconciledAt}`;
}

/**
 * The starter's gate, when the deployment sets STORM_WINDOW_HOURS (serverless.yml does, 24 by
 * default) to more than 0; unset or 0, every event starts as before and the registry is not read.
 * A bad value, or no REGISTRY_TABLE_NAME beside it, stops the starter with an error naming it.
 */
export function stormGateOf(env: Record<string, string | undefined>): StormGate | undefined {
  if (!env.STORM_WINDOW_HOURS?.trim()) return undefined;
  const { registryTableName, stormWindowHours } = readSettings(
    ["registryTableName", "stormWindowHours"],
    env,
  );
  if (stormWindowHours === 0) return undefined;
  const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
  return {
    registry: new Registry(dynamodb, registryTableName, "StartFromEvent"),
    windowMs: stormWindowHours * 3_600_000,
    now: () => new Date(),
  };
}
