import type * as organizations from "@aws-sdk/client-organizations";
import type { Handlers } from "./state.ts";
import { awsError, required } from "./state.ts";

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
