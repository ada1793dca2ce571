import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import httpEventNormalizer from "@middy/http-event-normalizer";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { readSettings } from "./config.ts";
import { type ApiAnswer, json, measuredRoute } from "./http.ts";
import { metrics } from "./powertools.ts";
import { tracer } from "./tracing.ts";
import { atColdStart } from "./trigger-runtime.ts";

/*
 * What the fleet routes (GET /accounts, GET /accounts/{accountId}) share: the registry table, read
 * with Scan and GetItem only, and the HTTP API's plumbing around their request functions.
 */

export interface FleetReadDeps {
  dynamodb: DynamoDBClient;
  registryTableName: string;
}

export const FLEET_READ_SETTINGS = ["logLevel", "registryTableName"] as const;

export function fleetReadDeps(env: Record<string, string | undefined>): FleetReadDeps {
  const { registryTableName } = readSettings(FLEET_READ_SETTINGS, env);
  return { dynamodb: tracer.captureAWSv3Client(new DynamoDBClient({})), registryTableName };
}

/** The fleet routes' outcomes: read, refused (a bad parameter or an unknown account), failed. */
export function countFleetRead(route: "list" | "get", outcome: "answered" | "refused" | "failed"): void {
  metrics.addDimension("route", route);
  metrics.addMetric(`FleetRead${outcome[0]?.toUpperCase()}${outcome.slice(1)}`, MetricUnit.Count, 1);
}

/** The HTTP plumbing both fleet routes share around their request function. */
export function fleetHandler(
  route: "list" | "get",
  answer: (event: APIGatewayProxyEventV2, deps: FleetReadDeps) => Promise<ApiAnswer>,
  load: () => FleetReadDeps,
) {
  const deps = atColdStart(load);
  return measuredRoute(httpEventNormalizer(), (outcome) => countFleetRead(route, outcome)).handler(
    async (event) => {
      const result = await answer(event, deps());
      countFleetRead(route, "answered");
      return json(result);
    },
  );
}
