import {
  type OrganizationsClient,
  paginateListAccountsForParent,
  paginateListOrganizationalUnitsForParent,
  paginateListRoots,
} from "@aws-sdk/client-organizations";
import { describeAwsFailure } from "./errors.ts";

/** A member account as a walk of the organization finds it. */
export interface Member {
  /** Organizations' `State` (ACTIVE, SUSPENDED, PENDING_CLOSURE); the retired `Status` is not read. */
  state: string;
  /** The OUs above the account, top first; the last is its own OU (none: it sits in the root). */
  ous: string[];
}

/**
 * Every account of the organization with the OUs above it: ListRoots, then each root's and OU's
 * accounts and child OUs, every listing paged to its end. One walk answers every filter (an
 * excluded OU excludes its subtree wherever the scope starts), for about two calls per OU.
 */
export async function walkOrganization(
  organizations: OrganizationsClient,
  step: string,
): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  const ask = async <T>(operation: string, list: () => AsyncIterable<T>): Promise<T[]> => {
    const pages: T[] = [];
    try {
      for await (const page of list()) pages.push(page);
    } catch (error) {
      throw describeAwsFailure(step, operation, "organization", error);
    }
    return pages;
  };
  const client = { client: organizations };
  const roots = (await ask("ListRoots", () => paginateListRoots(client, {}))).flatMap((p) => p.Roots ?? []);
  const queue: { id: string; ous: string[] }[] = roots.flatMap((root) =>
    root.Id ? [{ id: root.Id, ous: [] }] : [],
  );
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const { id, ous } = next;
    const accounts = await ask("ListAccountsForParent", () =>
      paginateListAccountsForParent(client, { ParentId: id }),
    );
    for (const account of accounts.flatMap((p) => p.Accounts ?? [])) {
      if (account.Id) members.set(account.Id, { state: account.State ?? "UNKNOWN", ous });
    }
    const children = await ask("ListOrganizationalUnitsForParent", () =>
      paginateListOrganizationalUnitsForParent(client, { ParentId: id }),
    );
    for (const ou of children.flatMap((p) => p.OrganizationalUnits ?? [])) {
      if (ou.Id) queue.push({ id: ou.Id, ous: [...ous, ou.Id] });
    }
  }
  return members;
}
