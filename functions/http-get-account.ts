import { type FleetReadDeps, fleetHandler, fleetReadDeps } from "./lib/fleet-http.ts";
import { readAccount } from "./lib/fleet-view.ts";
import { type ApiAnswer, ApiProblem } from "./lib/http.ts";
import { ACCOUNT_ID } from "./lib/step.ts";

/** GET /accounts/{accountId}: one account's registry item, projected (never echoed raw). */
export async function getAccountRequest(accountId: unknown, deps: FleetReadDeps): Promise<ApiAnswer> {
  if (typeof accountId !== "string" || !ACCOUNT_ID.test(accountId)) {
    throw new ApiProblem(400, "accountId: must be a 12-digit AWS account id");
  }
  const view = await readAccount(deps.dynamodb, deps.registryTableName, accountId);
  if (!view) throw new ApiProblem(404, "accountId: the registry holds no such account");
  return { statusCode: 200, body: { ...view } };
}

export function createHandler(load: () => FleetReadDeps) {
  return fleetHandler("get", (event, deps) => getAccountRequest(event.pathParameters?.accountId, deps), load);
}

export const handler = createHandler(() => fleetReadDeps(process.env));
