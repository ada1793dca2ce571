import { describe, expect, it } from "vitest";
import type { RegistryItem } from "../../functions/lib/registry.ts";
import {
  type ListDeps,
  listReconcilePage,
  PAGE_SIZE,
  PAGES_PER_EXECUTION,
} from "../../functions/list-reconcile-page.ts";

/*
 * The reconcile's pages: a bad start is refused by field before anything is read; the fleet is
 * read in pages of at most 100 active accounts, the last page's outcomes counted, and after
 * PAGES_PER_EXECUTION pages a fresh execution carries on.
 */

const at = "2026-11-30T00:00:00.000Z";
const item = (n: number, more: Partial<RegistryItem> = {}): RegistryItem => ({
  accountId: String(100_000_000_000 + n),
  version: 1,
  status: "active",
  lastExecution: `run-${n}`,
  lastOutcome: "succeeded",
  startedAt: at,
  updatedAt: at,
  resources: [],
  cloudAccountId: 1_000 + n,
  ...more,
});

/** A registry of `n` items whose scan pages as DynamoDB's does (after a key, at most `limit`). */
function registryOf(items: RegistryItem[]) {
  const reads: string[] = [];
  const registry: ListDeps["registry"] = {
    page: async (limit, after) => {
      reads.push(`scan after ${after ?? "(start)"}`);
      const from = after === undefined ? 0 : items.findIndex((i) => i.accountId === after) + 1;
      const page = items.slice(from, from + limit);
      const next = from + limit < items.length ? page[page.length - 1]?.accountId : undefined;
      return { items: page, ...(next ? { next } : {}) };
    },
    get: async (id) => {
      reads.push(`get ${id}`);
      return items.find((i) => i.accountId === id);
    },
  };
  const roles = {
    defaultRole: "OrganizationAccountAccessRole",
    controlTower: "AWSControlTowerExecution",
    organizations: "OrganizationAccountAccessRole",
  };
  return { deps: { registry, roles }, reads };
}

describe("ListReconcilePage", () => {
  it.each([
    [{ repairDrift: "yes" }, "field repairDrift must be true or false"],
    [{ accountIds: ["12"] }, "field accountIds.0 must list 12-digit account ids"],
    [{ accountIds: [] }, "field accountIds must list at least one account"],
    [{ repair: true }, "field repair is not a field of a reconcile"],
  ])("refuses %j by field, reading nothing", async (input, message) => {
    const { deps, reads } = registryOf([item(1)]);
    await expect(listReconcilePage({ input, results: [], execution: "r" }, deps)).rejects.toMatchObject({
      name: "InvalidInput",
      message: expect.stringContaining(message),
    });
    expect(reads).toEqual([]);
  });

  it("reads the fleet in pages of active accounts, with the role each account's runs use, then ends", async () => {
    // Prepare: 250 accounts, every tenth not active, one vended by Control Tower.
    const items = Array.from({ length: 250 }, (_, n) =>
      item(n, {
        ...(n % 10 === 9 ? { status: "failed" as const } : {}),
        ...(n === 0 ? { startedBy: "vending:controltower" } : {}),
      }),
    );
    const { deps } = registryOf(items);

    // Act: the loop of the state machine, each page's accounts all clean.
    let out = await listReconcilePage({ input: {}, results: [], execution: "r" }, deps);
    const pages = [out];
    while (!out.done) {
      const results = out.page.accounts.map(() => ({ outcome: "clean" as const }));
      out = await listReconcilePage({ input: { carry: out.carry }, results, execution: "r" }, deps);
      pages.push(out);
    }

    // Assess
    const sizes = pages.filter((p) => p.hasAccounts).map((p) => p.page.accounts.length);
    expect(sizes).toEqual([90, 90, 45]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(PAGE_SIZE);
    expect(pages[0]?.page.accounts[0]).toMatchObject({
      roleName: "AWSControlTowerExecution",
      cloudAccountId: 1_000,
    });
    expect(pages[0]?.page.accounts[1]).toMatchObject({ roleName: "OrganizationAccountAccessRole" });
    expect(pages[0]?.page.cloudAccountIds).toHaveLength(90);
    expect(out.carry.totals).toEqual({ clean: 225, drifted: 0, repaired: 0, repairFailed: 0, failed: 0 });
  });

  it(`hands over to a fresh execution after ${PAGES_PER_EXECUTION} pages, named for where it starts`, async () => {
    const items = Array.from({ length: PAGE_SIZE * (PAGES_PER_EXECUTION + 1) }, (_, n) => item(n));
    const { deps } = registryOf(items);
    let out = await listReconcilePage({ input: {}, results: [], execution: "nightly" }, deps);
    for (let n = 1; n < PAGES_PER_EXECUTION; n++) {
      out = await listReconcilePage({ input: { carry: out.carry }, results: [], execution: "nightly" }, deps);
    }
    out = await listReconcilePage({ input: { carry: out.carry }, results: [], execution: "nightly" }, deps);
    expect(out).toMatchObject({
      successor: `nightly-from-${PAGES_PER_EXECUTION}`,
      hasAccounts: false,
      done: false,
    });
    // The successor reads the next page, from where its predecessor stopped.
    const next = await listReconcilePage(
      { input: { carry: out.carry }, results: [], execution: String(out.successor) },
      deps,
    );
    expect(next.page.accounts[0]?.accountId).toBe(items[PAGE_SIZE * PAGES_PER_EXECUTION]?.accountId);
  });

  it("reads only the named accounts of a console start", async () => {
    const { deps, reads } = registryOf([item(1), item(2), item(3)]);
    const out = await listReconcilePage(
      { input: { accountIds: [item(3).accountId], repairDrift: true }, results: [], execution: "r" },
      deps,
    );
    expect(out.page.accounts.map((a) => a.accountId)).toEqual([item(3).accountId]);
    expect(out.carry.request).toEqual({ repairDrift: true, accountIds: [item(3).accountId] });
    expect(reads).toEqual([`get ${item(3).accountId}`]);
  });
});
