import { CreateAccessKeyCommand } from "@aws-sdk/client-iam";
import { GetSecretValueCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { USER_NAME } from "../../functions/lib/config.ts";
import type { StepRun } from "../../functions/lib/define-step.ts";
import { HOME, type LocalEnvironment, REGISTRAR_TABLE } from "../../local/environment.ts";
import type { RecordedRequest } from "../../local/redis-cloud/server.ts";
import { loadDefinition, type WorkflowResult } from "../../local/workflow.ts";

/*
 * What the proofs share: which state made a call, how to make the local Redis Cloud API refuse
 * one request, how to let Redis finish what it was asked, and what counts as a secret.
 */

export const TARGET = "222222222222";

/** The state each kind of request to the registrar waits in (the hand-over's `kind`). */
const STATE_OF_REQUEST: Record<string, string> = {
  register: "RegisterCloudAccount",
  withdraw: "WithdrawRegistration",
};

/**
 * The state that invokes each function (`Fn::GetAtt: [ensureUser, Arn]` → EnsureUser), and the
 * state a function run by the registrar serves: the registrar is the only path to Redis, and
 * runs the registration's code (register, then check until active) while the run waits in
 * RegisterCloudAccount, and the withdrawal's while it waits in WithdrawRegistration.
 */
export const STATE_OF_FUNCTION: Record<string, string> = {
  ...Object.fromEntries(
    Object.entries(loadDefinition().States as Record<string, { Resource?: unknown }>)
      .flatMap(([state, body]) => {
        const getAtt = (body.Resource as { "Fn::GetAtt"?: unknown[] } | undefined)?.["Fn::GetAtt"];
        return Array.isArray(getAtt) ? [[String(getAtt[0]), state]] : [];
      })
      // A function behind two states (planOnboarding: CheckOwnership in a run, PlanOnly in a plan)
      // is named by the first, which is the run's.
      .reverse(),
  ),
  registerCloudAccount: "RegisterCloudAccount",
  checkRegistration: "RegisterCloudAccount",
  withdrawRegistration: "WithdrawRegistration",
};

/**
 * The state a call of `fn` serves. The hand-over says which kind it queues; a tick of the
 * registrar's loop serves what is queued, a withdrawal first (it ends the run's registration).
 */
function stateServed(env: LocalEnvironment, fn: string, event: unknown): string {
  if (fn === "submitToRegistrar") {
    return STATE_OF_REQUEST[String((event as { kind?: unknown }).kind)] ?? fn;
  }
  if (fn === "registrarTick") {
    const kinds = env.dynamodb
      .items(REGISTRAR_TABLE)
      .map(
        (item) =>
          (JSON.parse((item.body as { S?: string } | undefined)?.S ?? "{}") as { kind?: string }).kind,
      );
    return kinds.includes("withdraw") ? "WithdrawRegistration" : "RegisterCloudAccount";
  }
  return STATE_OF_FUNCTION[fn] ?? fn;
}

/**
 * The environment's step code, wrapped so that every AWS call and Redis request is attributed to
 * the state that made it, or that the registrar made it for. A run is sequential, so whatever is
 * logged during one invocation is that invocation's; the registrar's tick runs the steps' code
 * within itself, so what the tick logs around it is the tick's, and the tick's state's.
 */
export function attributingRuns(env: LocalEnvironment) {
  const awsStates: string[] = [];
  const redisStates: string[] = [];
  /** The function whose own code made each AWS call (the innermost invocation under way). */
  const awsFunctions: string[] = [];
  const attribute = (state: string, fn = state) => {
    while (awsStates.length < env.aws.calls.length) {
      awsStates.push(state);
      awsFunctions.push(fn);
    }
    while (redisStates.length < env.redis.state.requests.length) redisStates.push(state);
  };
  /** The invocations under way, innermost last. */
  const running: { fn: string; state: string }[] = [];
  const runs: Record<string, StepRun<unknown>> = {};
  for (const [fn, run] of Object.entries(env.runs)) {
    runs[fn] = async (event, runtime) => {
      const outer = running.at(-1);
      attribute(outer?.state ?? "(between states)", outer?.fn);
      const entry = { fn, state: stateServed(env, fn, event) };
      running.push(entry);
      try {
        return await run(event, runtime);
      } finally {
        // The innermost invocation made what was logged since the last boundary: the hand-over
        // starts the registrar's loop, whose tick may already be under way when the hand-over ends.
        const innermost = running.at(-1) ?? entry;
        attribute(innermost.state, innermost.fn);
        running.splice(running.lastIndexOf(entry), 1);
      }
    };
  }
  return { runs, awsStates, awsFunctions, redisStates, attribute };
}

/** `/v1/tasks/4f1c…` → `/v1/tasks/{taskId}`: the endpoint, whatever the ids. */
export const redisEndpoint = (request: Pick<RecordedRequest, "method" | "path">): string =>
  `${request.method} ${request.path
    .replace(/^\/v1\/tasks\/[^/]+$/, "/v1/tasks/{taskId}")
    .replace(/^\/v1\/cloud-accounts\/\d+$/, "/v1/cloud-accounts/{id}")}`;

/**
 * The local Redis Cloud API has no per-request fault hook (no way to answer 503 or reset the
 * connection). Its rate limiter is the one lever it has, and it is read per request: the request
 * is logged, then the window's clock is read, then the limit. So the clock is where a chosen
 * request can be given a limit of 0 (a real 429, with Retry-After) and the next one the limit
 * back. `refuse` is asked once per request. Answers how many requests were refused.
 */
export function redisRefuses(
  env: LocalEnvironment,
  refuse: (request: RecordedRequest) => boolean,
): { refused: () => number } {
  const { state } = env.redis;
  const options = state.options;
  const limit = options.rateLimitPerMinute;
  const clock = options.now;
  let current: RecordedRequest | undefined;
  let refused = 0;
  options.now = () => {
    const request = state.requests[state.requests.length - 1];
    // A POST reads the clock twice (rate window, then the task's timestamp): decide once.
    if (request && request !== current) {
      current = request;
      const no = refuse(request);
      options.rateLimitPerMinute = no ? 0 : limit;
      if (no) refused += 1;
    }
    return clock();
  };
  return { refused: () => refused };
}

/**
 * Redis's 429 says to wait up to a minute (Retry-After), and the registrar obeys: it sends nothing
 * more until then, and tries the refused request again on a later tick. So that a proof does not
 * wait a real minute per refusal, the registrar's clock (its hooks' `now`, which its queue, lease and
 * budget all read) moves a minute ahead before the first tick after each 429: the registrar still
 * waits as Redis asked, on its own clock. Answers the run's code, whose registrar tick does that.
 */
export function pastRetryAfter(e: LocalEnvironment): Record<string, StepRun<unknown>> {
  const hooks = e.runtime.registrar;
  const tick = e.runs.registrarTick;
  if (!hooks || !tick) throw new Error("the local environment runs no registrar");
  let ahead = 0;
  let skipped = 0;
  hooks.now = () => Date.now() + ahead;
  const refusals = () => e.redis.state.requests.filter((r) => r.status === 429).length;
  const registrarTick: StepRun<unknown> = async (event, runtime) => {
    if (refusals() > skipped) {
      skipped = refusals();
      ahead += 61_000;
    }
    return tick(event, runtime);
  };
  return { ...e.runs, registrarTick };
}

/** The nth request that `matches` is answered 429, once. */
export function redisRefusesOnce(
  env: LocalEnvironment,
  matches: (request: RecordedRequest) => boolean,
  nth = 1,
): { fired: () => boolean } {
  let seen = 0;
  const refusals = redisRefuses(env, (request) => matches(request) && ++seen === nth);
  return { fired: () => refusals.refused() > 0 };
}

/**
 * Redis works on its task queue only while someone polls; the workflow does not poll the delete
 * task its rollback leaves. This polls every unfinished task until Redis has done all it was
 * asked, so that `state.accounts` is what Redis will hold, not what it holds mid-queue.
 */
export async function settleRedis(env: LocalEnvironment, maxPolls = 200): Promise<void> {
  const { state, url } = env.redis;
  const headers = { "x-api-key": env.apiKeys.accountKey, "x-api-secret-key": env.apiKeys.userKey };
  for (let polls = 0; polls < maxPolls && state.queue.length > 0; polls++) {
    const head = state.queue[0] ?? "";
    // A task Redis keeps hidden for ever (a test's doing) is never processed: nothing to wait for.
    if ((state.tasks.get(head)?.hiddenPolls ?? 0) > maxPolls) return;
    const response = await fetch(`${url}/tasks/${encodeURIComponent(head)}`, { headers });
    await response.arrayBuffer();
  }
}

/**
 * Every secret value AWS holds in the in-memory accounts right now: access key secrets, console
 * passwords, and the values stored in Secrets Manager (the credentials secret's fields and the API
 * keys). Called while runs progress, so that values a rollback deletes are caught too.
 */
export function harvestSecrets(env: LocalEnvironment, into: Set<string> = new Set()): Set<string> {
  for (const accountId of Object.keys(env.aws.snapshot())) {
    const account = env.aws.account(accountId);
    for (const user of account.users.values()) {
      for (const key of user.keys) into.add(key.SecretAccessKey);
      if (user.login) into.add(user.login.password);
    }
    for (const secret of account.secrets.values()) {
      for (const version of secret.versions) {
        const value = parseObject(version.SecretString);
        for (const field of ["secretAccessKey", "consolePassword", "accountKey", "userKey"]) {
          const found = value?.[field];
          if (typeof found === "string") into.add(found);
        }
      }
    }
  }
  into.add(env.apiKeys.accountKey);
  into.add(env.apiKeys.userKey);
  return into;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The secrets (by a short, safe label) that occur in `text`. */
export function secretsIn(text: string, secrets: Iterable<string>): string[] {
  const hits: string[] = [];
  for (const secret of secrets) {
    if (text.includes(secret)) hits.push(`${secret.slice(0, 3)}… (${secret.length} chars)`);
  }
  return hits;
}

/** The states a run entered, in order. */
export const statesEntered = (result: WorkflowResult): string[] =>
  result.events.flatMap((event) => (event.type === "StateEntered" ? [event.state.name] : []));

/**
 * A key replaced between runs (an operator's rotation): redislabs-user gets a second key and the
 * account's credentials secret names it, while Redis's cloud account is still on the first.
 * Answers both ids.
 */
export async function replaceKey(
  env: LocalEnvironment,
  accountId: string,
): Promise<{ previous: string; next: string }> {
  const iam = env.aws.clients({ accountId, region: HOME.region }).iam();
  const secrets = env.runtime.clients.secrets();
  const name = `${env.runtime.config.secretNamePrefix}${accountId}`;
  const stored = await secrets.send(new GetSecretValueCommand({ SecretId: name }));
  const value = JSON.parse(stored.SecretString ?? "{}") as Record<string, unknown>;
  const made = await iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME }));
  const next = made.AccessKey?.AccessKeyId ?? "";
  const secretAccessKey = made.AccessKey?.SecretAccessKey ?? "";
  await secrets.send(
    new PutSecretValueCommand({
      SecretId: name,
      SecretString: JSON.stringify({ ...value, accessKeyId: next, secretAccessKey }),
    }),
  );
  return { previous: String(value.accessKeyId), next };
}
