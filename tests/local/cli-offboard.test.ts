import { describe, expect, it } from "vitest";
import { type LocalEnvironment, registryItemOf, startLocalEnvironment } from "../../local/environment.ts";
import { main } from "../../local/start.ts";
import { captureIo } from "../support/cli-io.ts";

/** `npm start -- --offboard`, through the command's own entry point, against the local environment. */

const TARGET = "222222222222";

async function offboard(argv: string[]) {
  const { io, out } = captureIo();
  let env: LocalEnvironment | undefined;
  const code = await main(["--offboard", ...argv], io, {
    startLocal: async (options) => {
      env = await startLocalEnvironment(options);
      return env;
    },
  });
  if (!env) throw new Error("the command started no local environment");
  return { code, out, env };
}

describe("--offboard, locally", () => {
  it("onboards the local target, then offboards it in the same process, with progress and a summary", async () => {
    const { code, out, env } = await offboard([]);

    expect(code).toBe(0);
    expect(out.stdout).toContain(`onboarding account ${TARGET} first, in this process`);
    expect(out.stdout).toMatch(/EnsureUser\s+ok/);
    expect(out.stdout).toMatch(/DeleteAtRedis\s+ok/);
    expect(out.stdout).toMatch(/RemoveIamResources\s+ok/);
    expect(out.stdout).toContain("Offboarding succeeded (local");
    expect(out.stdout).toMatch(/cloud account\s+\d+ deleted at Redis Cloud/);
    expect(out.stdout).toMatch(/recovery window 7 days/);
    // Nothing the product made is left: no user, no cloud account; the registry says so.
    expect(env.aws.account(TARGET).users.has("redislabs-user")).toBe(false);
    expect(env.redis.state.accounts.size).toBe(0);
    expect(registryItemOf(env.dynamodb, TARGET)?.status).toBe("offboarded");
  });

  it("--json prints the offboarding's summary as one document, without a secret", async () => {
    const { code, out, env } = await offboard(["--json"]);

    expect(code).toBe(0);
    const summary = JSON.parse(out.stdout) as { status: string; removed: string[]; accountId: string };
    expect(summary).toMatchObject({ status: "SUCCEEDED", accountId: TARGET });
    expect(summary.removed.length).toBeGreaterThan(0);
    for (const key of Object.values(env.apiKeys)) expect(out.stdout).not.toContain(key);
  });
});
