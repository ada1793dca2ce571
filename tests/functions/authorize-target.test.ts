import { describe, expect, it } from "vitest";
import { authorizeTarget, handler } from "../../functions/authorize-target.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { FakeAws } from "../../local/aws/index.ts";
import { HOME } from "../../local/environment.ts";
import { lambdaContext } from "../support/aws.ts";

const TARGET = "222222222222";
const OTHER = "333333333333";
const ALLOWED_OU = "ou-abcd-11111111";
const OTHER_OU = "ou-abcd-22222222";

/** An organization with TARGET under the allowed OU and OTHER under another. */
function organization() {
  const aws = new FakeAws();
  const clients = aws.clients(HOME);
  aws.addOrganizationAccount(TARGET, ALLOWED_OU);
  aws.addOrganizationAccount(OTHER, OTHER_OU);
  const calls = () =>
    aws.calls.filter((call) => call.service === "organizations").map((call) => call.command);
  const authorize = (accountId: string, lists: { accounts?: string[]; ous?: string[] }) =>
    authorizeTarget(accountId, {
      config: { allowedAccountIds: lists.accounts ?? [], allowedOuIds: lists.ous ?? [] },
      organizations: () => clients.organizations(),
    });
  return { aws, calls, authorize };
}

async function refusal(promise: Promise<unknown>): Promise<WorkflowError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (error instanceof WorkflowError) return error;
  throw new Error(`expected a WorkflowError, got ${String(error)}`);
}

describe("authorizeTarget", () => {
  it("allows every account without asking Organizations when neither list is set", async () => {
    const { calls, authorize } = organization();

    await expect(authorize(OTHER, {})).resolves.toEqual({ allowedBy: "everyone" });
    expect(calls()).toEqual([]);
  });

  it("allows an account of ALLOWED_ACCOUNT_IDS without asking Organizations", async () => {
    const { calls, authorize } = organization();

    await expect(authorize(TARGET, { accounts: [TARGET] })).resolves.toEqual({
      allowedBy: "allowedAccountIds",
    });
    expect(calls()).toEqual([]);
  });

  it("refuses an account outside ALLOWED_ACCOUNT_IDS, by name and setting, when no OU is allowed", async () => {
    const { calls, authorize } = organization();

    const error = await refusal(authorize(OTHER, { accounts: [TARGET] }));

    expect(error.name).toBe("TargetNotAllowed");
    expect(error.message).toBe(
      `AuthorizeTarget: account ${OTHER} may not be onboarded: it is not in ALLOWED_ACCOUNT_IDS`,
    );
    expect(calls()).toEqual([]);
  });

  it("allows an ACTIVE account whose parent OU is allowed, read through Organizations", async () => {
    const { calls, authorize } = organization();

    await expect(authorize(TARGET, { ous: [ALLOWED_OU] })).resolves.toEqual({ allowedBy: "allowedOuIds" });
    expect(calls()).toEqual(["DescribeAccount", "ListParents"]);
  });

  it("refuses an account of another OU, naming the OU and both settings", async () => {
    const { authorize } = organization();

    const error = await refusal(authorize(OTHER, { ous: [ALLOWED_OU], accounts: [TARGET] }));

    expect(error.name).toBe("TargetNotAllowed");
    expect(error.message).toContain(`account ${OTHER}`);
    expect(error.message).toContain(`its OU ${OTHER_OU} is not in ALLOWED_OU_IDS`);
    expect(error.message).toContain("nor is it in ALLOWED_ACCOUNT_IDS");
  });

  it("admits an account either list allows", async () => {
    const { authorize } = organization();

    await expect(authorize(OTHER, { ous: [ALLOWED_OU], accounts: [OTHER] })).resolves.toEqual({
      allowedBy: "allowedAccountIds",
    });
    await expect(authorize(TARGET, { ous: [ALLOWED_OU], accounts: [OTHER] })).resolves.toEqual({
      allowedBy: "allowedOuIds",
    });
  });

  it("refuses a suspended account even in an allowed OU, and asks no further", async () => {
    const { aws, calls, authorize } = organization();
    aws.addOrganizationAccount(TARGET, ALLOWED_OU, "SUSPENDED");

    const error = await refusal(authorize(TARGET, { ous: [ALLOWED_OU] }));

    expect(error.name).toBe("TargetNotAllowed");
    expect(error.message).toContain("its state is SUSPENDED, not ACTIVE");
    expect(calls()).toEqual(["DescribeAccount"]);
  });

  it("refuses an account that is not in the organization", async () => {
    const { authorize } = organization();

    const error = await refusal(authorize("444444444444", { ous: [ALLOWED_OU] }));

    expect(error.name).toBe("TargetNotAllowed");
    expect(error.message).toContain("not a member of this organization");
  });

  it("names a denied Organizations call as AccessDenied, not as a refusal of the account", async () => {
    const { aws, authorize } = organization();
    aws.fail(
      (call) => call.service === "organizations",
      () => Object.assign(new Error("not authorized"), { name: "AccessDeniedException" }),
    );

    const error = await refusal(authorize(TARGET, { ous: [ALLOWED_OU] }));

    expect(error.name).toBe("AccessDenied");
    expect(error.message).toContain("DescribeAccount");
  });

  it("is a Lambda handler that reads both lists from its environment", async () => {
    process.env.ALLOWED_ACCOUNT_IDS = TARGET;
    try {
      const context = lambdaContext(HOME.accountId, "redis-cloud-byoc-test-authorizeTarget");
      const target = { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "x" };
      await expect(handler({ target }, context)).resolves.toEqual({ allowedBy: "allowedAccountIds" });
      await expect(handler({ target: { ...target, accountId: OTHER } }, context)).rejects.toMatchObject({
        name: "TargetNotAllowed",
      });
    } finally {
      delete process.env.ALLOWED_ACCOUNT_IDS;
    }
  });
});
