import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DescribeSecretCommand, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Summary } from "../../local/cli/summary.ts";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { type Io, main } from "../../local/start.ts";

const TARGET = "222222222222";
const SECRET = `redis-cloud/byoc/${TARGET}`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  /** The local environment the command ran against, if it got that far. */
  env: LocalEnvironment | undefined;
}

/** Runs the command in this process, as `npm start -- ...argv` would. */
async function start(argv: string[], io: Partial<Io> = {}): Promise<Ran> {
  const ran: Ran = { code: -1, stdout: "", stderr: "", env: undefined };
  const out: Io = {
    stdout: (text) => {
      ran.stdout += text;
    },
    stderr: (text) => {
      ran.stderr += text;
    },
    env: {},
    ...io,
  };
  ran.code = await main(argv, out, {
    startLocal: async (options) => {
      ran.env = await startLocalEnvironment(options);
      return ran.env;
    },
  });
  return ran;
}

function envOf(ran: Ran): LocalEnvironment {
  if (!ran.env) throw new Error("the command did not start a local environment");
  return ran.env;
}

/** The values no output may carry, read from where the run put them. */
async function secretsOf(env: LocalEnvironment): Promise<string[]> {
  const stored = await env.runtime.clients.secrets().send(new GetSecretValueCommand({ SecretId: SECRET }));
  const value = JSON.parse(stored.SecretString ?? "{}") as Record<string, string>;
  const secrets = [
    value.secretAccessKey ?? "",
    value.consolePassword ?? "",
    env.apiKeys.accountKey,
    env.apiKeys.userKey,
  ];
  for (const secret of secrets) expect(secret.length).toBeGreaterThan(10);
  return secrets;
}

function expectNoSecretIn(texts: string[], secrets: string[]) {
  for (const text of texts) {
    for (const secret of secrets) expect(text).not.toContain(secret);
  }
}

/** What the environment holds: the facts the output must report. */
async function factsOf(env: LocalEnvironment) {
  const secret = await env.runtime.clients.secrets().send(new DescribeSecretCommand({ SecretId: SECRET }));
  const [cloudAccountId] = [...env.redis.state.accounts.keys()];
  return { secretArn: secret.ARN ?? "no ARN", cloudAccountId };
}

const progressLine = (state: string, result: string) =>
  new RegExp(`^ {2}${state} +${result.replace(/[()]/g, "\\$&")} +\\d+ ms$`, "m");

describe("npm start: the onboarding on the embedded local environment", () => {
  let ran: Ran;
  beforeAll(async () => {
    ran = await start([]);
  });
  afterAll(() => ran.env?.close());

  it("onboards the default target, with a progress line per state as it runs", () => {
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`Onboarding account ${TARGET} from 111111111111`);
    for (const state of [
      "ValidateInput",
      "EnsureUserPolicy",
      "EnsureUser",
      "EnsureInstancePolicy",
      "EnsureNodeRole",
      "EnsureConsoleRole",
      "VerifyAccessKey",
      // The registrar registers the account and follows it to active: one state of the run's.
      "RegisterCloudAccount",
      "Onboarded",
    ]) {
      expect(ran.stdout).toMatch(progressLine(state, "ok"));
    }
    // The key is refused until it has propagated: the step checks again by itself, no retry shows.
    const checks = envOf(ran).aws.calls.filter((call) => call.command === "GetCallerIdentity");
    expect(checks[0]?.error).toBe("InvalidClientTokenId");
    expect(checks.at(-1)?.error).toBeUndefined();
    expect(ran.stdout).not.toContain("retried (KeyNotPropagated)");
    expect(envOf(ran).aws.account(TARGET).users.has("redislabs-user")).toBe(true);
  });

  it("ends with a summary naming the cloud account, the secret and what was created", async () => {
    const { secretArn, cloudAccountId } = await factsOf(envOf(ran));
    const summary = ran.stdout.slice(ran.stdout.indexOf("\nOnboarded "));

    expect(summary).toContain(`Onboarded ${TARGET} (aws-${TARGET}) in `);
    expect(summary).toContain(`cloud account: ${cloudAccountId} (registered by this run)`);
    expect(summary).toContain(`credentials secret: ${secretArn}`);
    expect(summary).toContain("created (13):");
    expect(summary).toContain("    Role redislabs-role");
    expect(summary).not.toContain("account restored");
  });

  it("prints no secret access key, console password or Redis API key", async () => {
    expectNoSecretIn([ran.stdout, ran.stderr], await secretsOf(envOf(ran)));
  });
});

describe("npm start -- --json --events <file>", () => {
  let ran: Ran;
  let dir: string;
  let events: Record<string, unknown>[];
  let eventsText: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "byoc-start-"));
    ran = await start(["--json", "--events", join(dir, "events.jsonl")]);
    eventsText = await readFile(join(dir, "events.jsonl"), "utf8");
    events = eventsText
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  });
  afterAll(async () => {
    await ran.env?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("prints the summary as one JSON document, progress on stderr", async () => {
    const { secretArn, cloudAccountId } = await factsOf(envOf(ran));

    expect(ran.code).toBe(0);
    const summary = JSON.parse(ran.stdout) as Summary;
    expect(summary).toMatchObject({
      mode: "local",
      status: "SUCCEEDED",
      accountId: TARGET,
      accountName: `aws-${TARGET}`,
      cloudAccountId,
      cloudAccount: "registered",
      credentialsSecretArn: secretArn,
      error: null,
      rollback: null,
      accountRestored: null,
    });
    expect(summary.created).toContain("User redislabs-user");
    expect(summary.created).toHaveLength(13);
    // The registry lists what the run created, under its execution.
    expect(summary.registry).toMatchObject({ status: "active", lastError: null, resources: 13 });
    // Polled within one invocation: the key's wait is in the state's time, not in retries.
    expect(summary.states.filter((s) => s.state === "VerifyAccessKey")).toEqual([
      { state: "VerifyAccessKey", result: "ok", ms: expect.any(Number) },
    ]);
    expect(ran.stderr).toMatch(progressLine("EnsureUser", "ok"));
  });

  it("writes every state event as a JSON line, with the states' input and output", async () => {
    const { secretArn } = await factsOf(envOf(ran));
    const summary = JSON.parse(ran.stdout) as Summary;

    for (const event of events) {
      expect(String(event.type)).toMatch(/^State(Entered|Exited|Failed|Retried|Caught)$/);
      expect(event.state).toMatchObject({ name: expect.any(String), input: expect.anything() });
    }
    // One progress line per state entered, plus one per retried attempt.
    const count = (type: string) => events.filter((event) => event.type === type).length;
    expect(summary.states).toHaveLength(count("StateEntered") + count("StateRetried"));
    const userDone = events.find(
      (event) => event.type === "StateExited" && (event.state as { name: string }).name === "EnsureUser",
    );
    expect(userDone).toMatchObject({ state: { output: { steps: { user: { secretArn } } } } });
  });

  it("writes no secret on stdout, stderr or into the events file", async () => {
    expectNoSecretIn([ran.stdout, ran.stderr, eventsText], await secretsOf(envOf(ran)));
  });
});

describe("npm start -- --fail-at <State>", () => {
  it("fails the state for good, rolls back and shows the account holds what it held before", async () => {
    const ran = await start(["--fail-at", "EnsureConsoleRole"]);
    try {
      expect(ran.code).toBe(1);
      expect(ran.stdout).toMatch(progressLine("EnsureConsoleRole", "caught (AccessDenied)"));
      expect(ran.stdout).toMatch(progressLine("RollBack", "ok"));
      expect(ran.stdout).toContain(`Onboarding of ${TARGET} (aws-${TARGET}) FAILED after`);
      expect(ran.stdout).toContain("error: AccessDenied: EnsureConsoleRole: access denied");
      expect(ran.stdout).toMatch(/rollback undid \(11\):\n(.*\n)*? {4}User redislabs-user\n/);
      expect(ran.stdout).toContain("rollback left (0)");
      expect(ran.stdout).toContain("account restored: yes");
      expect(ran.stdout).toContain("registry: failed (AccessDenied), 0 resources recorded");
      const env = envOf(ran);
      expect(env.aws.account(TARGET).users.size).toBe(0);
      expectNoSecretIn([ran.stdout, ran.stderr], [env.apiKeys.accountKey, env.apiKeys.userKey]);
    } finally {
      await ran.env?.close();
    }
  });

  it("says the same in JSON", async () => {
    const ran = await start(["--fail-at", "EnsureUser", "--json"]);
    try {
      expect(ran.code).toBe(1);
      const summary = JSON.parse(ran.stdout) as Summary;
      expect(summary).toMatchObject({
        status: "FAILED",
        error: { name: "AccessDenied", message: expect.stringContaining("EnsureUser") },
        rollback: { leftBehind: [] },
        accountRestored: true,
      });
      expect(summary.rollback?.undone).toEqual(expect.arrayContaining(summary.created));
    } finally {
      await ran.env?.close();
    }
  });
});

describe("bad usage exits 2, names the option and starts nothing", () => {
  it.each([
    [["--bogus"], "--bogus"],
    [["--account"], "--account"],
    [["--account", "12345"], "--account"],
    [["--name", "a\u0001b"], "--name"],
    [["--role", "no such role!"], "--role"],
    [["--fail-at", "Nowhere"], "--fail-at"],
    [["--events", join(tmpdir(), "no-such-dir", "events.jsonl")], "--events"],
    [["--api-keys-secret", "redis/keys"], "--api-keys-secret"],
    [["stray"], "stray"],
  ])("%j", async (argv, option) => {
    const ran = await start(argv);

    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain(option);
    expect(ran.stderr).toContain("--help");
    expect(ran.stdout).toBe("");
    expect(ran.env).toBeUndefined();
  });

  it("--help prints the usage and exits 0", async () => {
    const ran = await start(["--help"]);

    expect(ran.code).toBe(0);
    for (const option of ["--account", "--fail-at", "--json", "--events", "--live", "--yes"]) {
      expect(ran.stdout).toContain(option);
    }
  });
});

describe("npm start -- --live", () => {
  it("refuses without --yes when there is no terminal to confirm on, before anything is done", async () => {
    const ran = await start(["--live"], {
      ask: undefined,
      env: { REDIS_CLOUD_ACCOUNT_KEY: "a", REDIS_CLOUD_USER_KEY: "b" },
    });

    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/--live.*terminal.*--yes/);
    expect(ran.stdout).toBe("");
    expect(ran.env).toBeUndefined();
  });

  it("needs the Redis Cloud API keys, and says where to put them, before asking AWS anything", async () => {
    const ran = await start(["--live", "--yes"]);

    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain("REDIS_CLOUD_ACCOUNT_KEY");
    expect(ran.stderr).toContain("--api-keys-secret");
  });

  it("refuses a Redis Cloud API URL that is not https, naming the setting", async () => {
    const env = {
      REDIS_CLOUD_ACCOUNT_KEY: "a",
      REDIS_CLOUD_USER_KEY: "b",
      REDIS_CLOUD_API_URL: "http://example.com/v1",
    };
    const ran = await start(["--live", "--yes"], { env });

    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain("REDIS_CLOUD_API_URL");
  });
});

describe("the script itself", () => {
  it("runs with tsx and prints the JSON summary", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "local/start.ts", "--json"],
      {
        timeout: 30_000,
      },
    );

    expect(JSON.parse(stdout)).toMatchObject({ status: "SUCCEEDED", accountId: TARGET });
  });
});
