import type * as organizations from "@aws-sdk/client-organizations";
import type { Handlers } from "./state.ts";
import { awsError, type Request, required } from "./state.ts";

/** What the fake keeps of a member account: where it sits and whether it is usable. */
export type OrganizationAccount = { parentId: string; state: "ACTIVE" | "SUSPENDED" | "PENDING_CLOSURE" };

const ROOT = /^r-[0-9a-z]{4,32}$/;

/** The two reads AuthorizeTarget makes; an account outside the organization is not found, as in AWS. */
export const organizationsHandlers: Handlers<typeof organizations> = {
  ListParents: (_, i, { world }) => {
    const id = required("organizations", i.ChildId, "childId");
    const member = world.organization.get(id);
    if (!member) throw awsError("organizations", "ChildNotFoundException", `child ${id} not found`);
    const Type = ROOT.test(member.parentId) ? "ROOT" : "ORGANIZATIONAL_UNIT";
    return { Parents: [{ Id: member.parentId, Type }] };
  },
  DescribeAccount: (_, i, { world }) => {
    const id = required("organizations", i.AccountId, "accountId");
    const member = world.organization.get(id);
    if (!member) throw awsError("organizations", "AccountNotFoundException", `account ${id} not found`);
    return {
      Account: {
        Id: id,
        Arn: `arn:aws:organizations::111111111111:account/o-local/${id}`,
        State: member.state,
      },
    };
  },
};

/*
 * The organization's listings, paginated as AWS pages them (at most 20 a page, an opaque NextToken
 * until the last page). Accounts carry `State`, never the retired `Status` field.
 */

const PAGE_LIMIT = 20;

/** One page of `items` from the token's offset, and the token of the next page when there is one. */
function page<T>(items: T[], token: string | undefined, maxResults: number | undefined) {
  const size = Math.min(Math.max(maxResults ?? PAGE_LIMIT, 1), PAGE_LIMIT);
  const start = token === undefined ? 0 : Number(Buffer.from(token, "base64url").toString("utf8"));
  if (!Number.isInteger(start) || start < 0 || start > items.length) {
    throw awsError("organizations", "InvalidInputException", "the NextToken is not valid");
  }
  const end = start + size;
  const next = end < items.length ? Buffer.from(String(end), "utf8").toString("base64url") : undefined;
  return { items: items.slice(start, end), ...(next === undefined ? {} : { NextToken: next }) };
}

const accountOf = (id: string, member: OrganizationAccount) => ({
  Id: id,
  Arn: `arn:aws:organizations::111111111111:account/o-local/${id}`,
  Name: `account-${id}`,
  Email: `aws+${id}@example.com`,
  State: member.state,
});

/** The roots the members and OUs hang under (one in every real organization). */
function rootsOf(world: Request["world"]): string[] {
  const parents = [...world.organization.values()].map((member) => member.parentId);
  const roots = [...parents, ...world.organizationalUnits.values()].filter((id) => ROOT.test(id));
  return [...new Set(roots.length > 0 ? roots : ["r-0000"])];
}

/** A parent must be a root or an OU of the organization, as AWS answers for any other. */
function knownParent(world: Request["world"], id: string): void {
  if (!rootsOf(world).includes(id) && !world.organizationalUnits.has(id)) {
    throw awsError("organizations", "ParentNotFoundException", `parent ${id} not found`);
  }
}

export const organizationListHandlers: Handlers<typeof organizations> = {
  ListRoots: (_, i, { world }) => {
    const { items, ...rest } = page(rootsOf(world), i.NextToken, i.MaxResults);
    return {
      Roots: items.map((Id) => ({
        Id,
        Arn: `arn:aws:organizations::111111111111:root/o-local/${Id}`,
        Name: "Root",
      })),
      ...rest,
    };
  },
  ListAccounts: (_, i, { world }) => {
    const { items, ...rest } = page([...world.organization.entries()], i.NextToken, i.MaxResults);
    return { Accounts: items.map(([id, member]) => accountOf(id, member)), ...rest };
  },
  ListAccountsForParent: (_, i, { world }) => {
    const parent = required("organizations", i.ParentId, "parentId");
    knownParent(world, parent);
    const children = [...world.organization.entries()].filter(([, member]) => member.parentId === parent);
    const { items, ...rest } = page(children, i.NextToken, i.MaxResults);
    return { Accounts: items.map(([id, member]) => accountOf(id, member)), ...rest };
  },
  ListOrganizationalUnitsForParent: (_, i, { world }) => {
    const parent = required("organizations", i.ParentId, "parentId");
    knownParent(world, parent);
    const children = [...world.organizationalUnits.entries()].filter(([, of]) => of === parent);
    const { items, ...rest } = page(children, i.NextToken, i.MaxResults);
    return {
      OrganizationalUnits: items.map(([Id]) => ({
        Id,
        Arn: `arn:aws:organizations::111111111111:ou/o-local/${Id}`,
        Name: Id,
      })),
      ...rest,
    };
  },
};
