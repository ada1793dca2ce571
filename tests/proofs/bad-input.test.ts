import { readFileSync } from "node:fs";
import { SFNClient } from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { handler as startOnboarding } from "../../functions/http-start-onboarding.ts";
import { loadConfig } from "../../functions/lib/config.ts";
import { createHandler, starterDeps } from "../../functions/start-from-event.ts";
import { validateInput } from "../../functions/validate-input.ts";
import { HOME, type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import ctCreate from "../fixtures/events/controltower-create-managed-account.json" with { type: "json" };
import ctCreateFailed from "../fixtures/events/controltower-create-managed-account-failed.json" with {
  type: "json",
};
import ouRegistered from "../fixtures/events/controltower-register-organizational-unit.json" with {
  type: "json",
};
import ctUpdate from "../fixtures/events/controltower-update-managed-account.json" with { type: "json" };
import ctUpdateFailed from "../fixtures/events/controltower-update-managed-account-failed.json" with {
  type: "json",
};
import orgCreate from "../fixtures/events/organizations-create-account-result.json" with { type: "json" };
import orgCreateFailed from "../fixtures/events/organizations-create-account-result-failed.json" with {
  type: "json",
};
import postFixture from "../fixtures/http/post-onboardings.json" with { type: "json" };
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";
import { statesEntered, TARGET } from "./support.ts";

const MACHINE = STATE_MACHINE_ARN;

/*
 * Malformed input at each of the three ways in (the state machine's own input, account-vending
 * events, the HTTP API) is refused with a message that names the field or the problem, starts or
 * creates nothing, and never repeats a secret-looking value it was given. The corpus is data, in
 * tests/fixtures/bad-inputs/.
 */

interface ConsoleCase {
  case: string;
  input: unknown;
  field: string;
  secret?: string;
  engine?: string;
}
interface VendingCase {
  case: string;
  base?: string;
  event?: unknown;
  set?: Record<string, unknown>;
  unset?: string[];
  settings?: Record<string, string>;
  outcome: "ignored" | "refused";
  field: string;
  secret?: string;
}
interface HttpCase {
  case: string;
  body: string | null;
  headers?: Record<string, string>;
  padBytes?: number;
  status: number;
  field: string;
  secret?: string;
}

/**
 * Read as JSON text, as each way in receives it: an import of a JSON module would turn a
 * `"__proto__"` key into the object's prototype instead of a field.
 */
const corpus = <T>(name: string): T[] =>
  (
    JSON.parse(readFileSync(new URL(`../fixtures/bad-inputs/${name}`, import.meta.url), "utf8")) as {
      cases: T[];
    }
  ).cases;
const consoleCases = corpus<ConsoleCase>("console.json");
const vendingCases = corpus<VendingCase>("vending.json");
const httpCases = corpus<HttpCase>("http.json");

/** Shapes of credentials: an AWS access key id, a secret access key, a hex API key. */
const SECRET_SHAPES = [/(?:AKIA|ASIA)[A-Z0-9]{16}/g, /[A-Za-z0-9/+]{40}/g, /[0-9a-f]{32,}/g];

/** Every secret-looking token in the input, in its field names as in its values. */
function secretLooking(value: unknown): string[] {
  const strings: string[] = [];
  const visit = (v: unknown) => {
    if (typeof v === "string") strings.push(v);
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === "object") {
      for (const [key, inner] of Object.entries(v)) {
        strings.push(key);
        visit(inner);
      }
    }
  };
  visit(value);
  return strings.flatMap((s) => SECRET_SHAPES.flatMap((shape) => s.match(shape) ?? []));
}

/** The message names the problem and repeats no secret it was given. */
function expectClearMessage(message: string, expected: { field: string; secret?: string }, input: unknown) {
  expect(message).toContain(expected.field);
  const secrets = [...secretLooking(input), ...(expected.secret ? [expected.secret] : [])];
  for (const secret of secrets) expect(message, `repeats ${secret.slice(0, 4)}…`).not.toContain(secret);
}

describe("the corpus", () => {
  it("holds at least 50 malformed inputs across the three ways in, each naming what to expect", () => {
    const total = consoleCases.length + vendingCases.length + httpCases.length;
    console.log(
      `bad-input corpus: ${total} cases (state machine input ${consoleCases.length}, vending events ${vendingCases.length}, HTTP bodies ${httpCases.length})`,
    );
    expect(total).toBeGreaterThanOrEqual(50);
    for (const c of [...consoleCases, ...vendingCases, ...httpCases]) expect(c.field, c.case).not.toBe("");
    expect(new Set(consoleCases.map((c) => c.case)).size).toBe(consoleCases.length);
    expect(new Set(vendingCases.map((c) => c.case)).size).toBe(vendingCases.length);
    expect(new Set(httpCases.map((c) => c.case)).size).toBe(httpCases.length);
  });

  it("has secret-looking values the messages could repeat, so that the check can fail", () => {
    const withSecrets = [...consoleCases, ...vendingCases, ...httpCases].filter((c) => c.secret);
    expect(withSecrets.length).toBeGreaterThanOrEqual(8);
    expect(secretLooking({ AKIAIOSFODNN7EXAMPLE: "x" })).toEqual(["AKIAIOSFODNN7EXAMPLE"]);
  });
});

describe("the state machine's input, refused by its first state", () => {
  let env: LocalEnvironment;
  beforeAll(async () => {
    env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  });
  afterAll(() => env.close());

  it.each(consoleCases.map((c) => [c.case, c] as const))("%s", async (_name, c) => {
    const before = env.aws.snapshot();
    const writes = env.aws.writeCount();
    const published = env.published.length;

    const result = await env.run(c.input);
    const refusal = (() => {
      try {
        validateInput(c.input, { home: HOME, config: loadConfig({}) });
      } catch (error) {
        return error as Error;
      }
      return undefined;
    })();

    // The first state's code refuses it by name…
    expect(refusal?.name).toBe("InvalidInput");
    expectClearMessage(refusal?.message ?? "", c, c.input);
    // …and so does the run, whose error Step Functions keeps (90 days) and the API shows.
    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe(c.engine ?? "InvalidInput");
    if (c.engine === undefined) {
      const cause = JSON.parse(result.error?.Cause ?? "{}") as { errorMessage?: string };
      expectClearMessage(cause.errorMessage ?? "", c, c.input);
    }
    expectClearMessage(JSON.stringify(result.error), { ...c, field: "" }, c.input);
    // Nothing runs past the first state but the failure's report; an engine error stops even that.
    const reported = c.engine === undefined;
    expect(statesEntered(result)).toEqual(
      reported ? ["ValidateInput", "InputRefused", "PublishFailed", "OnboardingFailed"] : ["ValidateInput"],
    );
    expect(env.published.length - published).toBe(reported ? 1 : 0);
    expectClearMessage(JSON.stringify(env.published.slice(published)), { ...c, field: "" }, c.input);
    expect(env.aws.snapshot()).toEqual(before);
    expect(env.aws.writeCount()).toBe(writes);
  });
});

const sfnMock = mockClient(SFNClient);
beforeEach(() => {
  // No answer is set up: nothing may be asked of Step Functions at all.
  sfnMock.reset();
});

const BASES: Record<string, unknown> = {
  "controltower-create-managed-account": ctCreate,
  "controltower-create-managed-account-failed": ctCreateFailed,
  "controltower-update-managed-account": ctUpdate,
  "controltower-update-managed-account-failed": ctUpdateFailed,
  "controltower-register-organizational-unit": ouRegistered,
  "organizations-create-account-result": orgCreate,
  "organizations-create-account-result-failed": orgCreateFailed,
};

/** The case's event: its base fixture with the dotted paths set or removed, or its whole `event`. */
function eventOf(c: VendingCase): unknown {
  if (c.base === undefined) return c.event;
  const base = BASES[c.base];
  if (base === undefined) throw new Error(`no fixture ${c.base}`);
  const event = structuredClone(base) as Record<string, unknown>;
  const parentOf = (path: string) => {
    const keys = path.split(".");
    const last = keys.pop() ?? "";
    let node = event;
    for (const key of keys) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    return { node, last };
  };
  for (const [path, value] of Object.entries(c.set ?? {})) {
    const { node, last } = parentOf(path);
    node[last] = value;
  }
  for (const path of c.unset ?? []) {
    const { node, last } = parentOf(path);
    delete node[last];
  }
  return event;
}

const vendingContext = lambdaContext("111111111111", "redis-cloud-byoc-test-startFromEvent");

describe("account-vending events, refused or ignored by the starter", () => {
  it.each(vendingCases.map((c) => [c.case, c] as const))("%s", async (_name, c) => {
    const event = eventOf(c);
    const starter = createHandler(() => starterDeps({ STATE_MACHINE_ARN: MACHINE, ...c.settings }));

    const outcome = await starter(event, vendingContext).then(
      (result) => ({ result }),
      (error: unknown) => ({ error: error as Error }),
    );

    if (c.outcome === "ignored") {
      expect("result" in outcome && outcome.result.outcome).toBe("ignored");
      const reason = "result" in outcome && outcome.result.outcome === "ignored" ? outcome.result.reason : "";
      expectClearMessage(reason, c, event);
    } else {
      expect("error" in outcome && outcome.error.name).toBe("InvalidInput");
      expectClearMessage("error" in outcome ? outcome.error.message : "", c, event);
    }
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

const context = lambdaContext("111111111111", "redis-cloud-byoc-test-httpStartOnboarding");

function requestOf(c: HttpCase): APIGatewayProxyEventV2 {
  const event = structuredClone(postFixture) as unknown as APIGatewayProxyEventV2;
  if (c.body === null) delete event.body;
  else event.body = c.body + " ".repeat(c.padBytes ?? 0);
  event.headers = { ...event.headers, ...c.headers };
  return event;
}

function parsed(body: string | null): unknown {
  try {
    return body === null ? null : JSON.parse(body);
  } catch {
    return body;
  }
}

describe("HTTP bodies, refused by POST /onboardings", () => {
  it.each(httpCases.map((c) => [c.case, c] as const))("%s", async (_name, c) => {
    const response = (await startOnboarding(requestOf(c), context)) as APIGatewayProxyStructuredResultV2;

    expect(response.statusCode).toBe(c.status);
    expect(response.headers).toMatchObject({ "Content-Type": "application/json" });
    const { message } = JSON.parse(response.body ?? "{}") as { message?: string };
    expectClearMessage(message ?? "", c, parsed(c.body));
    expect(response.body).not.toContain(c.secret ?? "\u0000none");
    expect(sfnMock.calls()).toHaveLength(0);
  });
});
