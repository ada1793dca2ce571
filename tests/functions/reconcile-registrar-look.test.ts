import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { NOT_LISTED } from "../../functions/lib/registrar-look.ts";
import {
  HOME,
  type LocalEnvironment,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import { WAIT_FOR_TOKEN } from "../../local/registrar.ts";

/*
 * A reconcile's look through the registrar: read-only, answered from one GET /v1/cloud-accounts
 * whatever the number of cloud accounts it asks about, and refused by field when malformed.
 */

const A = "222222222222";
let env: LocalEnvironment;

beforeEach(async () => {
  forgetRedisApiKeys();
  env = await startLocalEnvironment({ targets: [A], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

/** The hand-over as the reconcile's Look state makes it, waiting for the registrar's answer. */
function look(cloudAccountIds: unknown, execution = `reconcile-${randomUUID()}-page-1`) {
  const service = env.services[WAIT_FOR_TOKEN];
  if (!service) throw new Error("no task-token stand-in");
  const payload = {
    kind: "look",
    taskToken: randomUUID(),
    target: { accountId: A, roleName: "OrganizationAccountAccessRole" },
    execution,
    cloudAccountIds,
  };
  return service({ FunctionName: "submitToRegistrar", Payload: payload } as never, {
    runs: env.runs,
    options: {} as never,
    invoke: (fn, event) => {
      const code = env.runs[fn];
      if (!code) throw new Error(`no code for ${fn}`);
      return code(event, env.runtime);
    },
  });
}

describe("the registrar's look", () => {
  it("answers each cloud account's status from one GET /v1/cloud-accounts, and writes nothing", async () => {
    // Prepare
    expect((await env.run({ accountId: A })).status).toBe("SUCCEEDED");
    const id = Number(registryItemOf(env.aws.account(HOME.accountId).dynamodb, A)?.cloudAccountId);
    const from = env.redis.state.requests.length;

    // Act
    const answer = await look([id, 999_999]);

    // Assess
    expect(answer).toEqual({ cloudAccounts: { [String(id)]: "active", "999999": NOT_LISTED } });
    const requests = env.redis.state.requests.slice(from).map((r) => `${r.method} ${r.path}`);
    expect(requests).toEqual(["GET /v1/cloud-accounts"]);
  });

  it("refuses more than one page of cloud accounts, by field, before anything is queued", async () => {
    const ids = Array.from({ length: 101 }, (_, n) => n + 1);
    await expect(look(ids)).rejects.toMatchObject({
      name: "InvalidInput",
      message: expect.stringContaining("cloudAccountIds"),
    });
    expect(env.redis.state.requests).toEqual([]);
  });
});
