import { TooManyRequestsException } from "@aws-sdk/client-organizations";
import { describe, expect, it } from "vitest";
import { planBulk, runOf } from "../../functions/bulk-plan.ts";
import { toItem } from "../../functions/lib/registry.ts";
import { FakeAws } from "../../local/aws/index.ts";
import { createLocalTables, HOME, REGISTRY_TABLE } from "../../local/environment.ts";

const ROOT = "r-ab12";
const PROD = "ou-ab12-11111111";
/** An OU inside PROD. */
const PROD_EU = "ou-ab12-22222222";
const SANDBOX = "ou-ab12-33333333";
const IN_ROOT = "100000000000";
const PROD_1 = "100000000001";
const PROD_2 = "100000000002";
const EU_1 = "100000000011";
const SANDBOX_1 = "100000000021";
const SUSPENDED = "100000000022";

function organization(settings: { allowedAccountIds?: string[]; allowedOuIds?: string[] } = {}) {
  const aws = new FakeAws();
  const clients = aws.clients(HOME);
  createLocalTables(aws.account(HOME.accountId).dynamodb);
  aws.addOrganizationalUnit(PROD, ROOT);
  aws.addOrganizationalUnit(PROD_EU, PROD);
  aws.addOrganizationalUnit(SANDBOX, ROOT);
  aws.addOrganizationAccount(IN_ROOT, ROOT);
  aws.addOrganizationAccount(PROD_1, PROD);
  aws.addOrganizationAccount(PROD_2, PROD);
  aws.addOrganizationAccount(EU_1, PROD_EU);
  aws.addOrganizationAccount(SANDBOX_1, SANDBOX);
  aws.addOrganizationAccount(SUSPENDED, SANDBOX, "SUSPENDED");
  const deps = {
    config: {
      bulkConcurrency: 50,
      allowedAccountIds: settings.allowedAccountIds ?? [],
      allowedOuIds: settings.allowedOuIds ?? [],
      allowedTargetRoleNames: ["OrganizationAccountAccessRole", "AWSControlTowerExecution"],
      registryTableName: REGISTRY_TABLE,
    },
    organizations: () => clients.organizations(),
    dynamodb: () => clients.dynamodb(),
  };
  const plan = (input: unknown) => planBulk(input, "run-1", deps);
  const calls = (service: string) => aws.calls.filter((c) => c.service === service).map((c) => c.command);
  const markActive = (accountId: string, status = "active") =>
    aws.account(HOME.accountId).dynamodb.putItem({
      TableName: REGISTRY_TABLE,
      Item: toItem({ accountId, status, updatedAt: "2026-01-01T00:00:00.000Z", resources: [] }) as never,
    });
  return { aws, plan, calls, markActive };
}

describe("planBulk: the scope", () => {
  it("lists every ACTIVE account of the organization, nested OUs and the root included, the suspended one skipped as notActive", async () => {
    const { plan, calls } = organization();

    const result = await plan({ organization: true });

    expect(result.accounts.sort()).toEqual([IN_ROOT, PROD_1, PROD_2, EU_1, SANDBOX_1].sort());
    expect(result.skipped.notActive).toBe(1);
    expect(result.skippedAccounts.notActive).toEqual([SUSPENDED]);
    expect(result).toMatchObject({ run: "run-1", concurrency: 50, defaults: {} });
    expect(new Set(calls("organizations"))).toEqual(
      new Set(["ListRoots", "ListAccountsForParent", "ListOrganizationalUnitsForParent"]),
    );
  });

  it("reads every page of a listing (20 a page, as AWS pages)", async () => {
    const { aws, plan } = organization();
    const many = Array.from({ length: 45 }, (_, i) => String(200_000_000_000 + i));
    for (const id of many) aws.addOrganizationAccount(id, SANDBOX);

    const result = await plan({ ouIds: [SANDBOX] });

    expect(result.accounts.sort()).toEqual([SANDBOX_1, ...many].sort());
    const pages = aws.calls.filter(
      (c) => c.command === "ListAccountsForParent" && (c.input as { ParentId?: string }).ParentId === SANDBOX,
    );
    expect(pages).toHaveLength(3);
  });

  it("takes an OU's own accounts, and its child OUs' only with includeChildOus", async () => {
    const { plan } = organization();

    expect((await plan({ ouIds: [PROD] })).accounts.sort()).toEqual([PROD_1, PROD_2]);
    expect((await plan({ ouIds: [PROD], includeChildOus: true })).accounts.sort()).toEqual([
      PROD_1,
      PROD_2,
      EU_1,
    ]);
  });

  it("takes listed account ids without asking Organizations when no OU list applies; duplicates once", async () => {
    const { plan, calls } = organization();

    const result = await plan({ accountIds: [PROD_1, PROD_1, "999999999999"] });

    expect(result.accounts).toEqual([PROD_1, "999999999999"]);
    expect(calls("organizations")).toEqual([]);
  });

  it("skips listed ids that are not in the organization once Organizations is asked (an OU list applies)", async () => {
    const { plan } = organization();

    const result = await plan({ accountIds: [PROD_1, "999999999999"], excludeOuIds: [SANDBOX] });

    expect(result.accounts).toEqual([PROD_1]);
    expect(result.skippedAccounts.notInOrganization).toEqual(["999999999999"]);
  });
});

describe("planBulk: what is left out", () => {
  it("excludes the accounts and OUs listed, an excluded OU with everything under it", async () => {
    const { plan } = organization();

    const result = await plan({ organization: true, excludeOuIds: [PROD], excludeAccountIds: [SANDBOX_1] });

    expect(result.accounts).toEqual([IN_ROOT]);
    expect(result.skipped).toMatchObject({ excludedOu: 3, excludedAccount: 1, notActive: 1 });
    expect(result.skippedAccounts.excludedOu?.sort()).toEqual([PROD_1, PROD_2, EU_1].sort());
  });

  it("leaves out what the deployment's allow-lists refuse, as AuthorizeTarget would (an account's own OU, or its id)", async () => {
    const { plan } = organization({ allowedOuIds: [PROD], allowedAccountIds: [SANDBOX_1] });

    const result = await plan({ organization: true });

    expect(result.accounts.sort()).toEqual([PROD_1, PROD_2, SANDBOX_1].sort());
    expect(result.skipped.notAllowed).toBe(3);
    expect(result.skippedAccounts.notAllowed?.sort()).toEqual([IN_ROOT, EU_1, SUSPENDED].sort());
  });

  it("skips the accounts the registry has active, and only those (a failed or running one is onboarded again)", async () => {
    const { plan, markActive } = organization();
    markActive(PROD_1);
    markActive(PROD_2, "failed");
    markActive(EU_1, "onboarding");

    const result = await plan({ ouIds: [PROD], includeChildOus: true });

    expect(result.accounts.sort()).toEqual([PROD_2, EU_1].sort());
    expect(result.skipped.alreadyActive).toBe(1);
    expect(result.skippedAccounts.alreadyActive).toEqual([PROD_1]);
  });

  it("hands every onboarding the input's role and caller, and nothing when the input names none", async () => {
    const { plan } = organization();
    const caller = "arn:aws:sts::111111111111:assumed-role/platform/alice";

    const result = await plan({
      accountIds: [PROD_1],
      roleName: "AWSControlTowerExecution",
      startedBy: caller,
    });

    expect(result.defaults).toEqual({ roleName: "AWSControlTowerExecution", startedBy: caller });
  });
});

describe("planBulk: refusals and failures", () => {
  it.each([
    [{}, "input: must name exactly one of organization, ouIds, accountIds"],
    [{ organization: false }, "organization: must be true"],
    [{ ouIds: [] }, "ouIds: must list at least one OU id"],
    [{ ouIds: ["r-ab12"] }, "ouIds.0: must be an OU id"],
    [{ accountIds: ["1234"] }, "accountIds.0: must be a 12-digit account id"],
    [{ organization: true, includeChildOus: true }, "includeChildOus: applies only with ouIds"],
    [{ organization: true, excludeOuIds: "ou-ab12-11111111" }, "excludeOuIds: must be array"],
    [{ organization: true, startedBy: "alice" }, "startedBy: must be an IAM or STS principal ARN"],
    [
      { organization: true, roleName: "Admin" },
      "roleName: must be one of the deployment's TARGET_ROLE_NAMES",
    ],
    [{ organization: true, extra: 1 }, "extra: unknown field"],
  ])("refuses %j with InvalidInput naming the field, before any call", async (input, message) => {
    const { plan, aws } = organization();

    await expect(plan(input)).rejects.toMatchObject({
      name: "InvalidInput",
      message: expect.stringContaining(`PlanBulk: ${message}`),
    });
    expect(aws.calls).toEqual([]);
  });

  it("names Organizations' throttling Throttling, which the state retries", async () => {
    const { aws, plan } = organization();
    aws.fail(
      (call) => call.command === "ListAccountsForParent",
      () => new TooManyRequestsException({ message: "slow down", $metadata: { httpStatusCode: 400 } }),
    );

    await expect(plan({ organization: true })).rejects.toMatchObject({
      name: "Throttling",
      message: expect.stringContaining("ListAccountsForParent"),
    });
  });
});

describe("runOf", () => {
  it("keeps a short execution name, and digests a long one so that every child name fits 80 characters", () => {
    expect(runOf("abc")).toBe("abc");
    const long = "x".repeat(80);
    expect(runOf(long)).toHaveLength(32);
    expect(runOf(long)).toBe(runOf(long));
    expect(`123456789012-bulk-${runOf(long)}`.length).toBeLessThanOrEqual(80);
  });
});
