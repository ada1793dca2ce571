import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  LOCK_TABLE,
  type LocalEnvironment,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";

const TARGET = "222222222222";
const ALLOWED_OU = "ou-abcd-11111111";
const CALLER = "arn:aws:sts::111111111111:assumed-role/platform-operators/alice";
let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  // Only the allowed OU's accounts; TARGET sits in another.
  Object.assign(env.runtime.config, { allowedOuIds: [ALLOWED_OU] });
  env.aws.addOrganizationAccount(TARGET, "ou-abcd-22222222");
});
afterEach(() => env.close());

const entered = (events: { type: string; state?: { name: string } }[]) =>
  events.flatMap((e) => (e.type === "StateEntered" && e.state ? [e.state.name] : []));

describe("the allow-lists, in the workflow", () => {
  it("ends a run for an account no list admits as TargetNotAllowed: published, nothing created, no lock", async () => {
    const before = env.aws.snapshot({ tables: true });

    const result = await env.run({ accountId: TARGET, startedBy: CALLER });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("TargetNotAllowed");
    expect(result.error?.Cause).toContain(`account ${TARGET}`);
    expect(result.error?.Cause).toContain("ALLOWED_OU_IDS");
    expect(entered(result.events)).toEqual([
      "ValidateInput",
      "AuthorizeTarget",
      "NothingToRollBack",
      "PublishFailed",
      "OnboardingFailed",
    ]);
    expect(env.aws.snapshot({ tables: true })).toEqual(before);
    expect(env.dynamodb.items(LOCK_TABLE)).toEqual([]);
    expect(registryItemOf(env.dynamodb, TARGET)).toBeUndefined();
    expect(env.redis.state.requests.filter((r) => r.method === "POST")).toEqual([]);
    const published = JSON.stringify(env.published);
    expect(published).toContain("Redis Cloud Onboarding Failed");
    expect(published).toContain("TargetNotAllowed");
    expect(published).toContain(CALLER);
  });

  it("onboards an account of an allowed OU, recording who started it in the registry and the event", async () => {
    env.aws.addOrganizationAccount(TARGET, ALLOWED_OU);

    const result = await env.run({ accountId: TARGET, startedBy: CALLER });

    expect(result.error).toBeUndefined();
    expect(result.status).toBe("SUCCEEDED");
    expect(registryItemOf(env.dynamodb, TARGET)?.startedBy).toBe(CALLER);
    const published = JSON.stringify(env.published);
    expect(published).toContain("Redis Cloud Onboarding Succeeded");
    expect(published).toContain(CALLER);
  });
});
