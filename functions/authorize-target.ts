import {
  DescribeAccountCommand,
  ListParentsCommand,
  OrganizationsClient,
} from "@aws-sdk/client-organizations";
import * as z from "zod";
import { lambdaClients } from "./lib/clients.ts";
import type { SettingsOf } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { describeAwsFailure, WorkflowError } from "./lib/errors.ts";
import { TargetSchema } from "./lib/step.ts";

const STEP = "AuthorizeTarget";

/** Only the target: this state runs before the lock and the registry, and creates nothing. */
const AuthorizeTargetEvent = z.object({ target: TargetSchema });

type AllowLists = SettingsOf<"allowedAccountIds" | "allowedOuIds">;

/** Which list let the account in; "everyone" when the deployment sets neither. */
export type Authorization = { allowedBy: "everyone" | "allowedAccountIds" | "allowedOuIds" };

/**
 * Every start (console, HTTP, vending) obeys the deployment's allow-lists here, whatever checked it
 * before: a console start has no other gate. Organizations is only asked when ALLOWED_OU_IDS is set
 * and the account is not listed by id, so a deployment without lists needs no Organizations access.
 */
export async function authorizeTarget(
  accountId: string,
  deps: { config: AllowLists; organizations: () => OrganizationsClient },
): Promise<Authorization> {
  const { allowedAccountIds, allowedOuIds } = deps.config;
  if (allowedAccountIds.length === 0 && allowedOuIds.length === 0) return { allowedBy: "everyone" };
  if (allowedAccountIds.includes(accountId)) return { allowedBy: "allowedAccountIds" };
  if (allowedOuIds.length === 0) throw notAllowed(accountId, "it is not in ALLOWED_ACCOUNT_IDS");
  const organizations = deps.organizations();
  const state = await ask(accountId, "DescribeAccount", () =>
    organizations.send(new DescribeAccountCommand({ AccountId: accountId })),
  ).then((answer) => answer.Account?.State);
  // A suspended or closing account cannot be onboarded, whichever OU it still sits in.
  if (state !== "ACTIVE") throw notAllowed(accountId, `its state is ${state ?? "unknown"}, not ACTIVE`);
  const parents = await ask(accountId, "ListParents", () =>
    organizations.send(new ListParentsCommand({ ChildId: accountId })),
  ).then((answer) => answer.Parents ?? []);
  // The account's own OU, as a vending event names it: an OU nested in an allowed one is not allowed.
  const parent = parents[0]?.Id;
  if (parent !== undefined && allowedOuIds.includes(parent)) return { allowedBy: "allowedOuIds" };
  const where = parent === undefined ? "it has no parent OU" : `its OU ${parent} is not in ALLOWED_OU_IDS`;
  const alsoIds = allowedAccountIds.length > 0 ? " nor is it in ALLOWED_ACCOUNT_IDS" : "";
  throw notAllowed(accountId, `${where}${alsoIds}`);
}

const notAllowed = (accountId: string, why: string): WorkflowError =>
  new WorkflowError("TargetNotAllowed", `${STEP}: account ${accountId} may not be onboarded: ${why}`);

/** An account outside the organization is refused by name; any other failure is the call's. */
async function ask<T>(accountId: string, operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    if (name === "AccountNotFoundException" || name === "ChildNotFoundException") {
      throw notAllowed(accountId, "it is not a member of this organization");
    }
    throw describeAwsFailure(STEP, operation, accountId, error);
  }
}

export const { run, handler } = defineStep({
  name: STEP,
  input: AuthorizeTargetEvent,
  settings: ["allowedAccountIds", "allowedOuIds"],
  clients: lambdaClients({ organizations: OrganizationsClient }),
  deps: ({ runtime }) => ({ config: runtime.config, organizations: () => runtime.clients.organizations() }),
  run: ({ target }, deps) => authorizeTarget(target.accountId, deps),
});
