import { type FleetReadDeps, fleetHandler, fleetReadDeps } from "./lib/fleet-http.ts";
import { DEFAULT_PAGE, decodeToken, MAX_PAGE, scanFleet } from "./lib/fleet-view.ts";
import { type ApiAnswer, ApiProblem } from "./lib/http.ts";

/** `limit` as the caller wrote it: digits only, 1 to 100; absent: 50. */
function pageSize(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PAGE;
  const limit = /^\d{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_PAGE)) {
    throw new ApiProblem(400, `limit: must be a whole number from 1 to ${MAX_PAGE}`);
  }
  return limit;
}

/**
 * GET /accounts: a page of the account registry, one row per account (its status, cloud account,
 * last run and drift). `nextToken` is opaque: the previous page's, as it was answered.
 */
export async function listAccountsRequest(
  query: Record<string, string | undefined> | undefined,
  deps: FleetReadDeps,
): Promise<ApiAnswer> {
  const limit = pageSize(query?.limit);
  const token = query?.nextToken;
  const start = token === undefined ? undefined : decodeToken(token);
  if (token !== undefined && start === undefined) {
    throw new ApiProblem(
      400,
      "nextToken: not a token this API answered (pass the last page's nextToken as is)",
    );
  }
  const page = await scanFleet(deps.dynamodb, deps.registryTableName, { limit, start });
  return { statusCode: 200, body: { ...page } };
}

export function createHandler(load: () => FleetReadDeps) {
  return fleetHandler("list", (event, deps) => listAccountsRequest(event.queryStringParameters, deps), load);
}

export const handler = createHandler(() => fleetReadDeps(process.env));
