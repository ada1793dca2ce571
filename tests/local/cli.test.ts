import { afterEach, describe, expect, it } from "vitest";
import { awsError } from "../../local/aws/index.ts";
import { failableState, failableStates, failingAt } from "../../local/cli/fail-at.ts";
import { formatSummary, summarize } from "../../local/cli/summary.ts";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { main } from "../../local/start.ts";
import type { WorkflowResult } from "../../local/workflow.ts";
import { captureIo } from "../support/cli-io.ts";

const TARGET = "222222222222";
let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function runFailingAt(state: string, arrange?: (e: LocalEnvironment) => void): Promise<WorkflowResult> {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  arrange?.(env);
  const wiring = failingAt(failableState(state), { runs: env.runs, services: env.services });
  return env.run({ accountId: TARGET }, wiring);
}

const failedStates = (result: WorkflowResult) =>
  result.events.flatMap((e) => (e.type === "StateFailed" ? [e.state.name] : []));
const entered = (result: WorkflowResult, state: string) =>
  result.events.some((e) => e.type === "StateEntered" && e.state.name === state);

describe("--fail-at names a state, not the function or service behind it", () => {
  it("offers every Task state but the rollback, service integrations included", () => {
    const states = failableStates().map((s) => s.state);

    expect(states).toContain("ReleaseAccountLock");
    expect(states).toContain("ReleaseLockAfterFailure");
    expect(states).toContain("PublishSucceeded");
    expect(states).not.toContain("RollBack");
  });

  it("fails ReleaseAccountLock alone, though ReleaseLockAfterFailure runs the same function", async () => {
    const result = await runFailingAt("ReleaseAccountLock");

    expect(new Set(failedStates(result))).toEqual(new Set(["ReleaseAccountLock"]));
    expect(entered(result, "ReleaseLockAfterFailure")).toBe(false);
  });

  it("fails ReleaseLockAfterFailure on the failure path and leaves ReleaseAccountLock alone", async () => {
    const result = await runFailingAt("ReleaseLockAfterFailure", (e) =>
      e.aws.fail(
        (call) => call.command === "CreateRole" && call.input.RoleName === "redislabs-role",
        () => awsError("iam", "AccessDenied", "denied by an SCP"),
      ),
    );

    expect(result.status).toBe("FAILED");
    expect(failedStates(result)).toContain("ReleaseLockAfterFailure");
    expect(entered(result, "ReleaseAccountLock")).toBe(false);
  });

  it("fails a service integration state (PublishSucceeded) through its stand-in", async () => {
    const result = await runFailingAt("PublishSucceeded");

    expect(new Set(failedStates(result))).toEqual(new Set(["PublishSucceeded"]));
    expect(env?.published).toHaveLength(0);
  });
});

describe("the summary", () => {
  it("names no secret that the rollback deleted", async () => {
    const result = await runFailingAt("RegisterCloudAccount");
    const facts = {
      mode: "local" as const,
      accountId: TARGET,
      durationMs: 1,
      states: [],
      accountRestored: true,
    };

    const summary = summarize(result, facts);

    expect(summary.rollback?.undone.some((u) => u.startsWith("Secret arn:"))).toBe(true);
    expect(summary.credentialsSecretArn).toBeNull();
    expect(formatSummary(summary)).not.toContain("credentials secret:");
  });
});

describe("npm start", () => {
  it("says after a local run that it was local, and what to do next", async () => {
    const { io, out } = captureIo({});

    expect(await main([], io)).toBe(0);

    expect(out.stdout).toContain("This was a local run");
    expect(out.stdout).toMatch(/npm run deploy/);
    expect(out.stdout).toContain(
      "aws secretsmanager get-secret-value --secret-id redis-cloud/byoc/222222222222",
    );
  });

  it("names the region setting when --live has none, instead of 'Region is missing'", async () => {
    const saved = { ...process.env };
    for (const name of ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"]) delete process.env[name];
    process.env.AWS_CONFIG_FILE = "/nonexistent/config";
    process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/credentials";
    const { io, out } = captureIo({
      REDIS_CLOUD_ACCOUNT_KEY: "a".repeat(20),
      REDIS_CLOUD_USER_KEY: "b".repeat(20),
    });
    try {
      expect(await main(["--live", "--yes"], io)).toBe(2);
    } finally {
      process.env = saved;
    }

    expect(out.stderr).toContain("--live needs an AWS region: set AWS_REGION");
    expect(out.stderr).not.toContain("Region is missing");
  });
});
