import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as z from "zod";
import { lambdaClients } from "./lib/clients.ts";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import { ReconcileRegistry } from "./lib/reconcile-registry.ts";
import type { RegistryItem } from "./lib/registry.ts";
import { ACCOUNT_ID } from "./lib/step.ts";

const STEP = "ListReconcilePage";

/** Accounts a page reconciles: one registrar look answers them all, within its 100. */
export const PAGE_SIZE = 100;
/**
 * Pages one execution reconciles before a fresh one carries on: a page of 100 drifted accounts
 * repaired costs about 3,000 history events, and an execution may hold 25,000.
 */
export const PAGES_PER_EXECUTION = 5;
/** A console start may name accounts; the whole fleet is the default (the schedule's input). */
const MAX_NAMED_ACCOUNTS = 1_000;

/** What starts a reconcile: the schedule's `{"repairDrift": false}`, or the console's. */
export const ReconcileRequestSchema = z.strictObject(
  {
    repairDrift: z.boolean({ error: "must be true or false" }).default(false),
    accountIds: z
      .array(z.string().regex(ACCOUNT_ID, "must list 12-digit account ids"), {
        error: "must be a list of 12-digit account ids",
      })
      .min(1, "must list at least one account (leave it out for every active account)")
      .max(MAX_NAMED_ACCOUNTS, `must list at most ${MAX_NAMED_ACCOUNTS} accounts`)
      .optional(),
  },
  { error: "must be an object" },
);
export type ReconcileRequest = z.output<typeof ReconcileRequestSchema>;

const OUTCOMES = ["clean", "drifted", "repaired", "repairFailed", "failed"] as const;
export type AccountOutcome = (typeof OUTCOMES)[number];
const count = z.number().int().nonnegative();
const TotalsSchema = z.object({
  clean: count,
  drifted: count,
  repaired: count,
  repairFailed: count,
  failed: count,
});
type Totals = z.output<typeof TotalsSchema>;

/** What one execution hands the next page, or its successor: the request, where it is, what it found. */
const CarrySchema = z.object({
  request: ReconcileRequestSchema,
  /** The next page starts after this account (the fleet) or at this index (named accounts). */
  cursor: z.string().nullable(),
  /** Pages read so far, by every execution of this reconcile. */
  pages: z.number().int().nonnegative(),
  /** Pages read by this execution. */
  pagesHere: z.number().int().nonnegative(),
  totals: TotalsSchema,
});
type Carry = z.output<typeof CarrySchema>;

const ListInputSchema = z.object({
  /** The execution's input (a request, or a predecessor's carry), or the carry of the last page. */
  input: z.unknown(),
  /** What the accounts of the last page came to (the page's Map). */
  results: z.array(z.object({ outcome: z.enum(OUTCOMES) }).loose()).default([]),
  execution: z.string().min(1),
});
export type ListInput = z.output<typeof ListInputSchema>;

/** One account to reconcile, with what repairing it needs: the role and name its run used. */
export interface PageAccount {
  accountId: string;
  roleName: string;
  accountName?: string;
  cloudAccountId?: number;
}

export interface ListOutput {
  carry: Carry;
  page: {
    accounts: PageAccount[];
    cloudAccountIds: number[];
    /** The registrar request of this page's look: its name in the registrar's queue. */
    look: { execution: string; target: { accountId: string; roleName: string } };
  };
  hasAccounts: boolean;
  hasLook: boolean;
  done: boolean;
  /** Set: this execution has read its pages; a new execution of this name carries on. */
  successor?: string;
  results: never[];
}

export interface ListDeps {
  registry: Pick<ReconcileRegistry, "page" | "get">;
  roles: { defaultRole: string; controlTower: string; organizations: string };
}

/**
 * The next page of active accounts (at most 100), after folding the last page's outcomes into the
 * totals. Reads the registry only: the Redis look and the accounts' reads are the next states'.
 */
export async function listReconcilePage(input: ListInput, deps: ListDeps): Promise<ListOutput> {
  const carry = carryOf(input);
  for (const result of input.results) carry.totals[result.outcome] += 1;
  const empty = {
    accounts: [],
    cloudAccountIds: [],
    look: { execution: input.execution, target: LOOK_TARGET },
  };
  const base = { results: [] as never[], hasAccounts: false, hasLook: false };
  if (carry.cursor === null && carry.pages > 0) return { ...base, carry, page: empty, done: true };
  if (carry.pagesHere >= PAGES_PER_EXECUTION) {
    const successor = successorName(input.execution, carry.pages);
    return { ...base, carry: { ...carry, pagesHere: 0 }, page: empty, done: false, successor };
  }
  const { items, next } = await readPage(carry, deps);
  const accounts = items.filter((item) => item.status === "active").map((item) => accountOf(item, deps));
  const cloudAccountIds = accounts.flatMap((a) => (a.cloudAccountId === undefined ? [] : [a.cloudAccountId]));
  const pages = carry.pages + 1;
  const first = accounts[0];
  return {
    ...base,
    carry: { ...carry, cursor: next ?? null, pages, pagesHere: carry.pagesHere + 1 },
    page: {
      accounts,
      cloudAccountIds,
      look: {
        execution: `${input.execution}-page-${pages}`,
        target: first ? { accountId: first.accountId, roleName: first.roleName } : LOOK_TARGET,
      },
    },
    hasAccounts: accounts.length > 0,
    hasLook: cloudAccountIds.length > 0,
    done: false,
  };
}

/** A look names no account of its own; the registrar's queue keeps a target for every request. */
const LOOK_TARGET = { accountId: "000000000000", roleName: "none" };

function carryOf(input: ListInput): Carry {
  const raw = input.input;
  const carried = z.object({ carry: CarrySchema }).safeParse(raw);
  if (carried.success) return carried.data.carry;
  const parsed = ReconcileRequestSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field =
      issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : issue?.path.join(".") || "(input)";
    const message = issue?.code === "unrecognized_keys" ? "is not a field of a reconcile" : issue?.message;
    throw new WorkflowError("InvalidInput", `${STEP}: field ${field} ${message ?? "is not valid"}`);
  }
  const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Totals;
  return { request: parsed.data, cursor: null, pages: 0, pagesHere: 0, totals };
}

async function readPage(carry: Carry, deps: ListDeps): Promise<{ items: RegistryItem[]; next?: string }> {
  const named = carry.request.accountIds;
  if (!named) return deps.registry.page(PAGE_SIZE, carry.cursor ?? undefined);
  const from = Number(carry.cursor ?? 0);
  const ids = named.slice(from, from + PAGE_SIZE);
  const found = await Promise.all(ids.map((id) => deps.registry.get(id)));
  const items = found.flatMap((item) => (item ? [item] : []));
  const to = from + ids.length;
  return { items, ...(to < named.length ? { next: String(to) } : {}) };
}

/** The role the account's runs assume: the vending source's, else the deployment's default. */
function accountOf(item: RegistryItem, deps: ListDeps): PageAccount {
  const by = item.startedBy ?? "";
  const roleName =
    by === "vending:controltower"
      ? deps.roles.controlTower
      : by === "vending:organizations"
        ? deps.roles.organizations
        : deps.roles.defaultRole;
  const accountName = item.registration?.name;
  return {
    accountId: item.accountId,
    roleName,
    ...(accountName ? { accountName } : {}),
    ...(item.cloudAccountId === undefined ? {} : { cloudAccountId: item.cloudAccountId }),
  };
}

/** Deterministic (a retried relay starts the same execution once), within Step Functions' 80. */
const successorName = (execution: string, pages: number) =>
  `${execution.replace(/-from-\d+$/, "").slice(0, 64)}-from-${pages}`;

export const { run, handler } = defineStep({
  name: STEP,
  input: ListInputSchema,
  settings: [
    "logLevel",
    "registryTableName",
    "defaultTargetRoleName",
    "controlTowerRoleName",
    "organizationsRoleName",
  ] as const,
  clients: lambdaClients({ dynamodb: DynamoDBClient }),
  deps: ({ runtime, step }): ListDeps => {
    // Local runs hand the shared settings only: the vending roles fall back to their defaults.
    const config = runtime.config as typeof runtime.config &
      Partial<{ controlTowerRoleName: string; organizationsRoleName: string }>;
    return {
      registry: new ReconcileRegistry(runtime.clients.dynamodb(), config.registryTableName, step),
      roles: {
        defaultRole: config.defaultTargetRoleName,
        controlTower: config.controlTowerRoleName ?? "AWSControlTowerExecution",
        organizations: config.organizationsRoleName ?? "OrganizationAccountAccessRole",
      },
    };
  },
  run: listReconcilePage,
});
