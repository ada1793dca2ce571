import { AsyncLocalStorage } from "node:async_hooks";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateInstanceProfileCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  type IAMClient,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
} from "@aws-sdk/client-secrets-manager";
import { ExecutionAlreadyExists, SFNClient } from "@aws-sdk/client-sfn";
import type { STSClient } from "@aws-sdk/client-sts";
import { beforeAll, describe, expect, it } from "vitest";
import { getBulkRequest, startBulkRequest } from "../../functions/http-bulk.ts";
import { getAccountRequest } from "../../functions/http-get-account.ts";
import { getOnboardingRequest } from "../../functions/http-get-onboarding.ts";
import { listAccountsRequest } from "../../functions/http-list-accounts.ts";
import { offboardRequest } from "../../functions/http-offboard.ts";
import { startOnboardingRequest } from "../../functions/http-start-onboarding.ts";
import { startRotationRequest } from "../../functions/http-start-rotation.ts";
import {
  CONSOLE_ROLE_NAME,
  INSTANCE_POLICY_NAME,
  loadConfig,
  NODE_ROLE_NAME,
  readSettings,
  USER_NAME,
  USER_POLICY_NAME,
} from "../../functions/lib/config.ts";
import type { Runtime, StepRun } from "../../functions/lib/define-step.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { policyArn } from "../../functions/lib/policies.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { Registry } from "../../functions/lib/registry.ts";
import { VENDING_SETTINGS } from "../../functions/lib/vending-decision.ts";
import { createHandler as offboardFromEventHandler } from "../../functions/offboard-from-event.ts";
import { createHandler } from "../../functions/start-from-event.ts";
import { scheduledRotationsStep } from "../../functions/start-scheduled-rotations.ts";
import { awsError, type FakeCall } from "../../local/aws/index.ts";
import { key } from "../../local/aws/state.ts";
import { failableState, failingAt } from "../../local/cli/fail-at.ts";
import {
  HOME,
  type LocalEnvironment,
  REGISTRAR_TABLE,
  REGISTRY_TABLE,
  startLocalEnvironment,
} from "../../local/environment.ts";
import type { WorkflowName, WorkflowResult } from "../../local/workflow.ts";
import ctCreate from "../fixtures/events/controltower-create-managed-account.json" with { type: "json" };
import ctUpdate from "../fixtures/events/controltower-update-managed-account.json" with { type: "json" };
import orgClose from "../fixtures/events/organizations-close-account-result.json" with { type: "json" };
import orgCreate from "../fixtures/events/organizations-create-account-result.json" with { type: "json" };
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";
import { resolveIntrinsics, type Stack } from "../support/cfn.ts";
import {
  type AuthRequest,
  type AwsCall,
  authorize,
  type Grant,
  grantKey,
  grantsOf,
  type Lookups,
  type PolicyDocument,
  type PolicyStatement,
  requestsFor,
  type Verdict,
} from "../support/iam-simulate.ts";
import { runningListing } from "../support/sfn.ts";
import { functionRoleId, packagedTemplate, roleStatements, type Template } from "../support/template.ts";
import { replaceKey } from "./support.ts";

/*
 * Least privilege, proven from the packaged template: every AWS call each function makes in local
 * runs of the workflow is allowed by the role the template gives it, and that role grants no
 * action × resource that none of those calls needed.
 */

const MACHINE = STATE_MACHINE_ARN;
/** The registrar state machine as the test stage names it (serverless.yml: <service>-<stage>-registrar). */
const REGISTRAR_MACHINE = MACHINE.replace(/-onboarding$/, "-registrar");
const DEAD_LETTER_QUEUE = "arn:aws:sqs:us-east-1:111111111111:redis-cloud-byoc-test-vending-dlq";
/** The later workflows' state machines, as the test stage names them (<service>-<stage>-<name>). */
const machineOf = (name: string) => MACHINE.replace(/-onboarding$/, `-${name}`);
const OFFBOARDING_DLQ = "arn:aws:sqs:us-east-1:111111111111:redis-cloud-byoc-test-offboarding-dlq";
const STACK: Stack = {
  partition: HOME.partition,
  region: HOME.region,
  accountId: HOME.accountId,
  refs: {
    OnboardingStateMachine: MACHINE,
    VendingEventsDeadLetterQueue: DEAD_LETTER_QUEUE,
    AccountRegistryTable: REGISTRY_TABLE,
    RegistrarTable: REGISTRAR_TABLE,
    OffboardingStateMachine: machineOf("offboarding"),
  },
  attributes: {
    "VendingEventsDeadLetterQueue.Arn": DEAD_LETTER_QUEUE,
    "OffboardingEventsDeadLetterQueue.Arn": OFFBOARDING_DLQ,
    // Locally the tables are named by their logical ids: the deployed names' ARNs, as the calls name them.
    "AccountRegistryTable.Arn": `arn:aws:dynamodb:${HOME.region}:${HOME.accountId}:table/${REGISTRY_TABLE}`,
    "RegistrarTable.Arn": `arn:aws:dynamodb:${HOME.region}:${HOME.accountId}:table/${REGISTRAR_TABLE}`,
  },
};

const TARGET = "222222222222";
const SECOND_TARGET = "333333333333";
const ALLOWED_OU = "ou-abcd-11111111";

/**
 * The functions proven here, by their serverless.yml names: all of them. The account lock is the
 * state machine's own DynamoDB writes; its role is checked in tests/serverless/template.test.ts.
 */
const FUNCTIONS = [
  "validateInput",
  "authorizeTarget",
  "recordStart",
  "planOnboarding",
  "ensureInstancePolicy",
  "ensureNodeRole",
  "ensureUserPolicy",
  "ensureUser",
  "ensureConsoleRole",
  "verifyAccessKey",
  // The registrar: the hand-over (RegisterCloudAccount, WithdrawRegistration) and the loop's tick,
  // which runs the registration's, the check's and the withdrawal's code.
  "submitToRegistrar",
  "registrarTick",
  "retireOldKey",
  "recordSuccess",
  "rollback",
  "recordFailure",
  "startFromEvent",
  "httpStartOnboarding",
  "httpGetOnboarding",
  // --- Fleet view ---
  "httpListAccounts",
  "httpGetAccount",
  // --- The workflows after the onboarding: their steps, run through their state machines ---
  "rotateValidate",
  "rotateBegin",
  "rotateCreateKey",
  "rotatePromote",
  "rotateOldKey",
  "rotateUndo",
  "rotateFinish",
  "listReconcilePage",
  "reconcileAccount",
  "bulkPlan",
  "bulkSummary",
  "offboardStart",
  "offboardBegin",
  "offboardIam",
  "offboardSecret",
  "offboardFinish",
  "offboardFailure",
  // Their starters and routes, through their cores.
  "startScheduledRotations",
  "httpStartRotation",
  "httpBulk",
  "offboardFromEvent",
  "httpOffboard",
  "httpGetOffboarding",
] as const;
type FunctionName = (typeof FUNCTIONS)[number];
/** The code registrarTick runs: the registration's, the check's, the withdrawal's and the offboarding's. */
const REGISTRAR_WORK = [
  "registerCloudAccount",
  "checkRegistration",
  "withdrawRegistration",
  "offboardAtRedis",
];
const isProven = (fn: string): fn is FunctionName => (FUNCTIONS as readonly string[]).includes(fn);

// ---------------------------------------------------------------------------------------------
// Recording: which function made which call
// ---------------------------------------------------------------------------------------------

interface Recorded {
  /** What AWS authorizes for the calls made with the function's own role. */
  requests: AuthRequest[];
  calls: number;
  /** Made in a target account with the assumed role: authorized by that role, not this one. */
  inTargets: number;
  /** Signed with the new user's key (VerifyAccessKey's GetCallerIdentity): not this role's either. */
  signedByNewKey: number;
}

const recorded = new Map<FunctionName, Recorded>(
  FUNCTIONS.map((fn) => [fn, { requests: [], calls: 0, inTargets: 0, signedByNewKey: 0 }]),
);
const keySigned = new WeakSet<AwsCall>();

function record(fn: string, calls: AwsCall[], lookups: Lookups): void {
  const entry = isProven(fn) ? recorded.get(fn) : undefined;
  if (!entry) return;
  for (const call of calls) {
    // Only the new key can be refused (not yet propagated); the function's own never is.
    if (call.accountId === "" && !keySigned.has(call)) {
      throw new Error(`${fn}: ${call.service}:${call.command} had its credentials refused`);
    }
    if (keySigned.has(call)) entry.signedByNewKey += 1;
    else if (call.accountId !== HOME.accountId) entry.inTargets += 1;
    else {
      entry.calls += 1;
      entry.requests.push(...requestsFor(call, lookups));
    }
  }
}

interface Session {
  env: LocalEnvironment;
  accounts: string[];
  /** Every secret seen, `<account>|<name>` → ARN: a name in a call may be of a secret since deleted. */
  secretArns: Map<string, string>;
  runs: Record<string, StepRun<unknown>>;
}

function noteSecrets(session: Session): void {
  for (const id of session.accounts) {
    for (const secret of session.env.aws.findAccount(id)?.secrets.values() ?? []) {
      session.secretArns.set(`${id}|${secret.Name}`, secret.ARN);
    }
  }
}

function lookupsOf(session: Session): Lookups {
  return {
    secretArn: (accountId, id) =>
      id.startsWith("arn:")
        ? id
        : // A name never seen made: the ARN it would get, whose random suffix no grant may depend on.
          (session.secretArns.get(`${accountId}|${id}`) ??
          `arn:aws:secretsmanager:${HOME.region}:${accountId}:secret:${id}-000000`),
    tableArn: (accountId, table) => `arn:aws:dynamodb:${HOME.region}:${accountId}:table/${table}`,
    trustPolicy: (roleArn) => {
      const [, accountId = "", name = ""] = /^arn:aws:iam::(\d{12}):role\/(.+)$/.exec(roleArn) ?? [];
      const trust = session.env.aws.findAccount(accountId)?.roles.get(key(name))?.trust;
      return trust === undefined ? undefined : JSON.parse(trust);
    },
  };
}

/** The invocation whose code is running, through every await of it. */
interface Invocation {
  fn: string;
  /** Calls made outside the in-memory AWS: what the registrar's hooks stand in for. */
  calls: AwsCall[];
}
const invocation = new AsyncLocalStorage<Invocation>();
/** Which invocation made each call the in-memory AWS logged. */
const madeBy = new WeakMap<FakeCall, Invocation>();

/** Notes, as each call is logged, the invocation making it. */
function attributeCalls(calls: FakeCall[]): void {
  const push = calls.push.bind(calls);
  calls.push = (...items: FakeCall[]) => {
    const current = invocation.getStore();
    if (current) for (const item of items) madeBy.set(item, current);
    return push(...items);
  };
}

/**
 * A step whose AWS calls are recorded as its function's: the calls its invocation made, by the
 * async context they were made in. The registrar's loop ticks while an execution runs its next
 * steps, so the calls logged during an invocation are not all its own. Each invocation runs as in a
 * fresh Lambda container (its own STS credentials and Redis API keys): locally all steps share one
 * runtime, and its caches would hide the AssumeRole and key read that each function makes in AWS.
 */
function attributed(fn: string, run: StepRun<unknown>, session: Session): StepRun<unknown> {
  return async (event, runtime) => {
    forgetRedisApiKeys();
    // A new client factory: its own TargetClients, so its own AssumeRole (see targetIam).
    const cold: Runtime = { ...runtime, clients: { ...runtime.clients } };
    noteSecrets(session);
    const from = session.env.aws.calls.length;
    const self: Invocation = { fn, calls: [] };
    try {
      return await invocation.run(self, () => run(event, cold));
    } finally {
      noteSecrets(session);
      const own = session.env.aws.calls.slice(from).filter((call) => madeBy.get(call) === self);
      record(fn, [...own, ...self.calls], lookupsOf(session));
    }
  };
}

/**
 * Locally the registrar's task tokens are answered and its loop started in process (the runtime's
 * registrar hooks); in AWS the functions send these to Step Functions. Each is recorded as that
 * call, made by the invocation running, then done as locally.
 */
function recordRegistrarCalls(env: LocalEnvironment): void {
  const hooks = env.runtime.registrar;
  if (!hooks) throw new Error("the local environment has no registrar hooks");
  const sent = (command: string, input: Record<string, unknown>) => {
    const current = invocation.getStore();
    if (!current) throw new Error(`states:${command} outside any function's invocation`);
    current.calls.push({ accountId: HOME.accountId, service: "states", command, input });
  };
  // The hooks' other members (the tick's work is a getter: the run's own code) stay as they are.
  const wrapped = Object.create(hooks) as typeof hooks;
  wrapped.tokens = {
    succeed: (taskToken, output) => {
      sent("SendTaskSuccess", { taskToken, output: JSON.stringify(output ?? {}) });
      return hooks.tokens.succeed(taskToken, output);
    },
    fail: (taskToken, error, cause) => {
      sent("SendTaskFailure", { taskToken, error, cause });
      return hooks.tokens.fail(taskToken, error, cause);
    },
    heartbeat: (taskToken) => {
      sent("SendTaskHeartbeat", { taskToken });
      return hooks.tokens.heartbeat(taskToken);
    },
  };
  wrapped.start = (name) => {
    sent("StartExecution", { stateMachineArn: REGISTRAR_MACHINE, name, input: JSON.stringify({ ticks: 0 }) });
    return hooks.start(name);
  };
  env.runtime.registrar = wrapped;
}

/** Marks the calls sent through this client as signed by the new user's key. */
function signedByNewKey(client: STSClient, calls: FakeCall[]): STSClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== "send" || typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        const from = calls.length;
        try {
          return await value.apply(target, args);
        } finally {
          for (const call of calls.slice(from)) keySigned.add(call);
        }
      };
    },
  });
}

async function openSession(targets: string[] = [], heartbeats = false): Promise<Session> {
  const env = await startLocalEnvironment({
    targets,
    aws: { keyPropagationMs: 0 },
    // Every tick tells each waiting execution its request is alive (SendTaskHeartbeat).
    ...(heartbeats ? { registrar: { settings: { heartbeatMs: 0 } } } : {}),
  });
  attributeCalls(env.aws.calls);
  recordRegistrarCalls(env);
  const session: Session = { env, accounts: [HOME.accountId, ...targets], secretArns: new Map(), runs: {} };
  const steps: Record<string, StepRun<unknown>> = {
    ...env.runs,
    verifyAccessKey: (event, runtime) =>
      env.runs.verifyAccessKey?.(event, {
        ...runtime,
        clients: {
          ...runtime.clients,
          sts: (credentials) =>
            credentials
              ? signedByNewKey(runtime.clients.sts(credentials), env.aws.calls)
              : runtime.clients.sts(),
        },
      }) ?? Promise.reject(new Error("no verifyAccessKey")),
  };
  session.runs = Object.fromEntries(
    Object.entries(steps).map(([fn, run]) => [
      fn,
      // Not functions of their own: the tick runs their code, with its role, in its invocation.
      REGISTRAR_WORK.includes(fn) ? run : attributed(fn, run, session),
    ]),
  );
  return session;
}

async function withSession(
  targets: string[],
  body: (session: Session) => Promise<void>,
  heartbeats = false,
): Promise<void> {
  const session = await openSession(targets, heartbeats);
  try {
    await body(session);
    // The registrar's last ticks (its queue found empty, its lease given up) are its calls too.
    await session.env.registrar.settled();
  } finally {
    await session.env.close();
  }
}

/** Runs the workflow; a run that does not end as its scenario intends would prove nothing. */
async function run(
  session: Session,
  input: unknown,
  ends: "SUCCEEDED" | { failsWith: string },
  failAt?: string,
) {
  const wiring = { runs: session.runs, services: session.env.services };
  const result: WorkflowResult = await session.env.run(
    input,
    failAt ? failingAt(failableState(failAt), wiring) : wiring,
  );
  const expected =
    ends === "SUCCEEDED" ? { status: "SUCCEEDED" } : { status: "FAILED", error: ends.failsWith };
  const got = { status: result.status, ...(result.error ? { error: result.error.Error } : {}) };
  if (JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(
      `run of ${JSON.stringify(input)}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(result.error ?? got)}`,
    );
  }
}

/** Runs another workflow with the recorded code, `runs` in place of some; it must end as intended. */
async function runOther(
  session: Session,
  workflow: WorkflowName,
  input: unknown,
  ends: "SUCCEEDED" | { failsWith: string },
  runs: Record<string, StepRun<unknown>> = session.runs,
  executionName?: string,
) {
  const result = await session.env.runWorkflow(workflow, input, {
    runs,
    ...(executionName === undefined ? {} : { executionName }),
  });
  const expected =
    ends === "SUCCEEDED" ? { status: "SUCCEEDED" } : { status: "FAILED", error: ends.failsWith };
  const got = { status: result.status, ...(result.error ? { error: result.error.Error } : {}) };
  if (JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(
      `${workflow} of ${JSON.stringify(input)}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(result.error ?? got)}`,
    );
  }
  return result;
}

/**
 * The recorded code with `fn` failing for good (after doing its work, recorded, when `after`),
 * for events of `action` only when given: drives a workflow's failure and undo paths.
 */
function failingStep(
  session: Session,
  fn: string,
  options: { after?: boolean; action?: string } = {},
): Record<string, StepRun<unknown>> {
  const real = session.runs[fn];
  if (!real) throw new Error(`no step ${fn}`);
  const wrapped: StepRun<unknown> = async (event, runtime) => {
    const action = (event as { action?: string }).action;
    if (options.action !== undefined && action !== options.action) return real(event, runtime);
    if (options.after) await real(event, runtime);
    throw new WorkflowError("AccessDenied", `${fn}: refused for the proof`);
  };
  return { ...session.runs, [fn]: wrapped };
}

// ---------------------------------------------------------------------------------------------
// Changes made by hand between runs (not attributed: no step is running)
// ---------------------------------------------------------------------------------------------

const FOREIGN_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:ListAllMyBuckets", Resource: "*" }],
});
const FOREIGN_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { AWS: "arn:aws:iam::444455556666:root" }, Action: "sts:AssumeRole" },
  ],
});
const homePolicies = [INSTANCE_POLICY_NAME, USER_POLICY_NAME].map((name) =>
  policyArn(HOME.partition, HOME.accountId, name),
);

/** Someone edits both policies `versions` times; the last edit is the default. */
async function driftPolicies(iam: IAMClient, versions: number) {
  for (const arn of homePolicies) {
    for (let i = 0; i < versions; i++) {
      await iam.send(
        new CreatePolicyVersionCommand({
          PolicyArn: arn,
          PolicyDocument: FOREIGN_POLICY,
          SetAsDefault: true,
        }),
      );
    }
  }
}

async function driftTrusts(iam: IAMClient) {
  for (const role of [NODE_ROLE_NAME, CONSOLE_ROLE_NAME]) {
    await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: role, PolicyDocument: FOREIGN_TRUST }));
  }
}

/**
 * As a crashed run leaves things: the secret no longer knows the console password, and the user
 * holds a key the secret does not name.
 */
async function orphanTheKey(env: LocalEnvironment) {
  const [iam, secrets] = [env.runtime.clients.iam(), env.runtime.clients.secrets()];
  const name = `${loadConfig({}).secretNamePrefix}${HOME.accountId}`;
  const stored = await secrets.send(new GetSecretValueCommand({ SecretId: name }));
  const { consolePassword: _forgotten, ...value } = JSON.parse(stored.SecretString ?? "{}") as Record<
    string,
    string
  >;
  await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(value) }));
  await iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: value.accessKeyId }));
  await iam.send(new CreateAccessKeyCommand({ UserName: USER_NAME }));
}

const denied = (message: string) => () => awsError("iam", "AccessDenied", message);

const FOREIGN_SECRET_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    {
      Effect: "Deny",
      Principal: "*",
      Action: "secretsmanager:DeleteSecret",
      Resource: "*",
      Condition: { StringNotEquals: { "aws:PrincipalAccount": "111111111111" } },
    },
  ],
});

/**
 * Everything made by someone else, as a team might have it: both roles with another trust and
 * the team's policy, the profile holding the team's role, the user with a console password and
 * the team's policy, a secret of other content at the product's name.
 */
async function foreignWorld(env: LocalEnvironment, secretPolicy: string | undefined) {
  const [iam, secrets] = [env.runtime.clients.iam(), env.runtime.clients.secrets()];
  const team = await iam.send(
    new CreatePolicyCommand({ PolicyName: "team-policy", PolicyDocument: FOREIGN_POLICY }),
  );
  const teamPolicy = team.Policy?.Arn ?? "";
  for (const role of [NODE_ROLE_NAME, CONSOLE_ROLE_NAME, "team-role"]) {
    await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: FOREIGN_TRUST }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: teamPolicy }));
  }
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: NODE_ROLE_NAME }));
  await iam.send(
    new AddRoleToInstanceProfileCommand({ InstanceProfileName: NODE_ROLE_NAME, RoleName: "team-role" }),
  );
  await iam.send(new CreateUserCommand({ UserName: USER_NAME }));
  await iam.send(new CreateLoginProfileCommand({ UserName: USER_NAME, Password: "Team-Password-0001!" }));
  await iam.send(new AttachUserPolicyCommand({ UserName: USER_NAME, PolicyArn: teamPolicy }));
  const name = `${loadConfig({}).secretNamePrefix}${HOME.accountId}`;
  await secrets.send(
    new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ team: "value" }) }),
  );
  if (secretPolicy)
    await secrets.send(new PutResourcePolicyCommand({ SecretId: name, ResourcePolicy: secretPolicy }));
}

// ---------------------------------------------------------------------------------------------
// The trigger functions, through their cores, with a recording Step Functions client
// ---------------------------------------------------------------------------------------------

type SfnAnswer = (command: string, input: Record<string, unknown>) => object;

/** An SFN client that records each call as `fn`'s and answers it locally, nothing sent. */
function recordingSfn(fn: FunctionName, answer: SfnAnswer): SFNClient {
  const sfn = new SFNClient({
    region: HOME.region,
    credentials: { accessKeyId: "AKIALOCAL", secretAccessKey: "local" },
  });
  const lookups = { secretArn: () => "", trustPolicy: () => undefined, tableArn: () => "" };
  const middleware =
    (_next: unknown, context: { commandName?: string }) => async (args: { input: object }) => {
      const call = {
        accountId: HOME.accountId,
        service: "states",
        command: (context.commandName ?? "").replace(/Command$/, ""),
        input: args.input as Record<string, unknown>,
      };
      record(fn, [call], lookups);
      return { output: { ...answer(call.command, call.input), $metadata: {} }, response: {} };
    };
  (sfn.middlewareStack as unknown as { add: (m: typeof middleware, at: object) => void }).add(middleware, {
    step: "initialize",
    name: "recordingSfn",
    priority: "high",
  });
  return sfn;
}

const running = (name: string) => runningListing(MACHINE, name);
const nothingRunning = { executions: [] };

// --- Event storms: the starter reads the account's registry item (here: none, so it starts) ---
function recordingDynamo(fn: FunctionName): DynamoDBClient {
  const dynamodb = new DynamoDBClient({
    region: HOME.region,
    credentials: { accessKeyId: "AKIALOCAL", secretAccessKey: "local" },
  });
  const lookups = {
    secretArn: () => "",
    trustPolicy: () => undefined,
    tableArn: (accountId: string, table: string) =>
      `arn:aws:dynamodb:${HOME.region}:${accountId}:table/${table}`,
  };
  const middleware =
    (_next: unknown, context: { commandName?: string }) => async (args: { input: object }) => {
      const command = (context.commandName ?? "").replace(/Command$/, "");
      const input = args.input as Record<string, unknown>;
      record(fn, [{ accountId: HOME.accountId, service: "dynamodb", command, input }], lookups);
      return { output: { $metadata: {} }, response: {} };
    };
  (dynamodb.middlewareStack as unknown as { add: (m: typeof middleware, at: object) => void }).add(
    middleware,
    { step: "initialize", name: "recordingDynamo", priority: "high" },
  );
  return dynamodb;
}

async function driveTriggers() {
  const settings = readSettings(VENDING_SETTINGS, {});
  // Through the handler, as Lambda runs it: the event is parsed as in AWS.
  const starts = async (event: unknown, answer: SfnAnswer) =>
    createHandler(() => ({
      sfn: recordingSfn("startFromEvent", answer),
      stateMachineArn: MACHINE,
      settings,
      // --- Event storms ---
      storm: {
        registry: new Registry(recordingDynamo("startFromEvent"), REGISTRY_TABLE, "StartFromEvent"),
        windowMs: 86_400_000,
        now: () => new Date(),
      },
    }))(event, lambdaContext(HOME.accountId, "startFromEvent"));
  const outcomes = [
    // A new account: nothing running, so it starts one.
    await starts(ctCreate, (command, input) =>
      command === "ListExecutions"
        ? nothingRunning
        : { executionArn: executionArn(MACHINE, String(input.name)), startDate: new Date() },
    ),
    // A redelivery whose run has succeeded: the name is taken, and its run is described.
    await starts(orgCreate, (command) => {
      if (command === "ListExecutions") return nothingRunning;
      if (command === "DescribeExecution") return { status: "SUCCEEDED" };
      throw new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} });
    }),
    // An update while the create's run is still going.
    await starts(ctUpdate, () => running(`${TARGET}-vending-controltower`)),
  ].map((result) => result.outcome);
  expect(outcomes).toEqual(["started", "already handled", "already running"]);

  // A repeat within the minute of a run that failed: described, then re-driven under the next name.
  const failedFirst = `${TARGET}-api-20261121T1956Z`;
  const started = await startOnboardingRequest(
    { accountId: TARGET },
    {
      sfn: recordingSfn("httpStartOnboarding", (command, input) => {
        if (command === "ListExecutions") return nothingRunning;
        if (command === "DescribeExecution") return { status: "FAILED" };
        if (input.name === failedFirst) {
          throw new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} });
        }
        return { executionArn: executionArn(MACHINE, String(input.name)), startDate: new Date() };
      }),
      stateMachineArn: MACHINE,
      allowedRoleNames: loadConfig({}).allowedTargetRoleNames,
      now: () => new Date("2026-11-21T19:56:53Z"),
      statusUrl: (id) => `https://api.example.com/onboardings/${id}`,
    },
  );
  expect(started).toMatchObject({ statusCode: 202, body: { id: `${failedFirst}-2` } });

  const id = `${TARGET}-api-20261121T1956Z`;
  const described = await getOnboardingRequest(id, {
    sfn: runningExecution("httpGetOnboarding", MACHINE, id, "EnsureUser"),
    stateMachineArn: MACHINE,
  });
  expect(described.body).toMatchObject({ status: "RUNNING", currentStep: "EnsureUser" });
}

/** A status route's Step Functions: the execution `id` of `machine` running, in `state`. */
function runningExecution(fn: FunctionName, machine: string, id: string, state: string) {
  return recordingSfn(fn, (command) =>
    command === "DescribeExecution"
      ? {
          executionArn: executionArn(machine, id),
          stateMachineArn: machine,
          status: "RUNNING",
          startDate: new Date(),
        }
      : {
          events: [
            {
              id: 3,
              type: "TaskStateEntered",
              timestamp: new Date(),
              stateEnteredEventDetails: { name: state },
            },
          ],
        },
  );
}

// --- Fleet view ---
/** GET /accounts (two pages) and GET /accounts/{accountId}, on the registry the runs wrote. */
async function driveFleetReads(session: Session) {
  const deps = {
    dynamodb: session.env.runtime.clients.dynamodb(),
    registryTableName: REGISTRY_TABLE,
  };
  const read = async (fn: FunctionName, act: () => Promise<unknown>) => {
    const from = session.env.aws.calls.length;
    const self: Invocation = { fn, calls: [] };
    await invocation.run(self, act);
    const own = session.env.aws.calls.slice(from).filter((call) => madeBy.get(call) === self);
    if (own.length === 0) throw new Error(`${fn} made no call`);
    record(fn, own, lookupsOf(session));
  };
  await read("httpListAccounts", async () => {
    const first = await listAccountsRequest({ limit: "1" }, deps);
    const nextToken = first.body.nextToken as string | undefined;
    if (nextToken) await listAccountsRequest({ nextToken }, deps);
  });
  await read("httpGetAccount", () => getAccountRequest(TARGET, deps));
}

// --- The workflows after the onboarding: rotation, reconcile, bulk onboarding, offboarding ---
async function driveLaterWorkflows() {
  // Rotation in the home account (IAM with the function's own role): a success, a failure before
  // the switch (the undo deletes the new key and moves the labels back), failures after it.
  await withSession([], async (session) => {
    await run(session, {}, "SUCCEEDED");
    const rotate = { accountId: HOME.accountId, rotate: true };
    await runOther(session, "rotation", rotate, "SUCCEEDED");
    await runOther(
      session,
      "rotation",
      rotate,
      { failsWith: "AccessDenied" },
      failingStep(session, "verifyAccessKey"),
    );
    await runOther(
      session,
      "rotation",
      rotate,
      { failsWith: "AccessDenied" },
      failingStep(session, "rotatePromote", { after: true }),
    );
    await runOther(
      session,
      "rotation",
      rotate,
      { failsWith: "AccessDenied" },
      failingStep(session, "rotateOldKey", { action: "delete" }),
    );
    await runOther(session, "rotation", rotate, "SUCCEEDED");
    // Reconcile: pages of the registry, the account planned (reads only).
    await runOther(session, "reconcile", {}, "SUCCEEDED");
    // Offboarding: everything the product made goes; a second one finds nothing.
    await runOther(session, "offboarding", { accountId: HOME.accountId }, "SUCCEEDED");
    await runOther(session, "offboarding", { accountId: HOME.accountId }, "SUCCEEDED");
  });
  // In target accounts, through either role name: the steps assume the role. The second account
  // was onboarded by Control Tower's event (the execution's name says so): its reconcile and its
  // offboarding assume Control Tower's role.
  await withSession([TARGET, SECOND_TARGET], async (session) => {
    const targets = [
      { accountId: TARGET },
      { accountId: SECOND_TARGET, roleName: "AWSControlTowerExecution" },
    ];
    await run(session, targets[0], "SUCCEEDED");
    await runOther(
      session,
      "onboarding",
      targets[1],
      "SUCCEEDED",
      session.runs,
      `${SECOND_TARGET}-vending-controltower`,
    );
    // The whole registry page by page, then accounts named (each read by its item),
    // before a rotation records the account as its own.
    await runOther(session, "reconcile", {}, "SUCCEEDED");
    await runOther(session, "reconcile", { accountIds: [TARGET, SECOND_TARGET] }, "SUCCEEDED");
    for (const input of targets) {
      await runOther(session, "rotation", { ...input, rotate: true }, "SUCCEEDED");
      await runOther(
        session,
        "rotation",
        { ...input, rotate: true },
        { failsWith: "AccessDenied" },
        failingStep(session, "verifyAccessKey"),
      );
    }
    await runOther(
      session,
      "offboarding",
      { accountId: TARGET },
      { failsWith: "AccessDenied" },
      failingStep(session, "offboardSecret"),
    );
    for (const input of targets) await runOther(session, "offboarding", input, "SUCCEEDED");
  });
  // The secret's readers changed by hand: the rotation puts its resource policy back.
  await withSession([], async (session) => {
    await run(session, {}, "SUCCEEDED");
    const name = `${loadConfig({}).secretNamePrefix}${HOME.accountId}`;
    await session.env.runtime.clients
      .secrets()
      .send(new PutResourcePolicyCommand({ SecretId: name, ResourcePolicy: FOREIGN_SECRET_POLICY }));
    await runOther(session, "rotation", { accountId: HOME.accountId, rotate: true }, "SUCCEEDED");
  });
  // Offboarding what the onboarding adopted: each resource gets back what it had before (the
  // policies' default versions, the roles' trust and policies, the profile's role, the user's
  // policy) and is left; what the product made goes.
  await withSession([], async (session) => {
    await foreignWorld(session.env, FOREIGN_SECRET_POLICY);
    const iam = session.env.runtime.clients.iam();
    for (const PolicyName of [INSTANCE_POLICY_NAME, USER_POLICY_NAME])
      await iam.send(new CreatePolicyCommand({ PolicyName, PolicyDocument: FOREIGN_POLICY }));
    await run(session, { adopt: true }, "SUCCEEDED");
    await runOther(session, "offboarding", { accountId: HOME.accountId }, "SUCCEEDED");
  });
  // Bulk onboarding of an OU's accounts: the plan lists the organization and reads the registry.
  await withSession([TARGET, SECOND_TARGET], async (session) => {
    session.env.aws.addOrganizationalUnit(ALLOWED_OU, "r-abcd");
    session.env.aws.addOrganizationAccount(TARGET, ALLOWED_OU);
    session.env.aws.addOrganizationAccount(SECOND_TARGET, ALLOWED_OU);
    await run(session, { accountId: TARGET }, "SUCCEEDED");
    await runOther(session, "bulk-onboarding", { ouIds: [ALLOWED_OU] }, "SUCCEEDED");
  });
}

/** The later workflows' starters and routes: a first start, and a repeat whose name is taken. */
async function driveLaterTriggers() {
  const taken = () => {
    throw new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} });
  };
  /** Starts the first time, finds the name taken the second (and describes that execution). */
  const startsThenTaken = (machine: string): SfnAnswer => {
    const seen = new Set<string>();
    return (command, input) => {
      if (command === "ListExecutions") return nothingRunning;
      if (command === "DescribeExecution")
        return { executionArn: String(input.executionArn), stateMachineArn: machine, status: "SUCCEEDED" };
      const name = String(input.name);
      if (seen.has(name)) return taken();
      seen.add(name);
      return { executionArn: executionArn(machine, name), startDate: new Date() };
    };
  };
  const at = () => new Date("2026-11-21T19:56:53Z");

  // The schedule's starter: the registry's active accounts (a Scan), one rotation each, twice.
  const rotation = machineOf("rotation");
  await withSession([], async (session) => {
    await run(session, {}, "SUCCEEDED");
    const sfn = recordingSfn("startScheduledRotations", startsThenTaken(rotation));
    const { run: starts } = scheduledRotationsStep(() => sfn);
    const runtime: Runtime = {
      ...session.env.runtime,
      // A trigger's setting, not a step's: the local runtime has none.
      config: { ...session.env.runtime.config, rotationStateMachineArn: rotation } as Runtime["config"],
    };
    for (let i = 0; i < 2; i++) {
      const from = session.env.aws.calls.length;
      const self: Invocation = { fn: "startScheduledRotations", calls: [] };
      await invocation.run(self, () => starts({}, runtime));
      const own = session.env.aws.calls.slice(from).filter((call) => madeBy.get(call) === self);
      if (own.length === 0) throw new Error("startScheduledRotations read no registry");
      record("startScheduledRotations", own, lookupsOf(session));
    }
  });

  const rotationSfn = recordingSfn("httpStartRotation", startsThenTaken(rotation));
  for (const status of [202, 200]) {
    const answer = await startRotationRequest(TARGET, {
      sfn: rotationSfn,
      stateMachineArn: rotation,
      now: at,
    });
    expect(answer.statusCode).toBe(status);
  }

  const bulk = machineOf("bulk-onboarding");
  const bulkSfn = recordingSfn("httpBulk", startsThenTaken(bulk));
  const bulkDeps = {
    sfn: bulkSfn,
    stateMachineArn: bulk,
    now: at,
    statusUrl: (id: string) => `https://api.example.com/onboardings/bulk/${id}`,
  };
  for (const status of [202, 200]) {
    const answer = await startBulkRequest({ ouIds: [ALLOWED_OU] }, bulkDeps);
    expect(answer.statusCode).toBe(status);
  }
  const bulkStatus = await getBulkRequest("bulk-20261121T1956Z-0123456789abcdef", bulkDeps);
  expect(bulkStatus.body.status).toBe("SUCCEEDED");

  const offboarding = machineOf("offboarding");
  const fromEvent = offboardFromEventHandler(() => ({
    sfn: recordingSfn("offboardFromEvent", startsThenTaken(offboarding)),
    stateMachineArn: offboarding,
  }));
  const closed = [orgClose, orgClose].map((event) =>
    fromEvent(event, lambdaContext(HOME.accountId, "offboardFromEvent")),
  );
  expect((await Promise.all(closed)).map((result) => result.outcome)).toEqual(["started", "taken"]);

  const offboardSfn = recordingSfn("httpOffboard", startsThenTaken(offboarding));
  const offboardDeps = {
    sfn: offboardSfn,
    stateMachineArn: offboarding,
    now: at,
    statusUrl: (id: string) => `https://api.example.com/offboardings/${id}`,
  };
  for (const status of [202, 200]) {
    const answer = await offboardRequest(TARGET, offboardDeps);
    expect(answer.statusCode).toBe(status);
  }

  // GET /offboardings/{id}: the onboarding's status route on the offboarding's executions.
  const id = `${TARGET}-api-20261121T1956Z`;
  const described = await getOnboardingRequest(id, {
    sfn: runningExecution("httpGetOffboarding", offboarding, id, "RemoveIamResources"),
    stateMachineArn: offboarding,
  });
  expect(described.body).toMatchObject({ status: "RUNNING" });
}

// ---------------------------------------------------------------------------------------------
// What the template grants each function
// ---------------------------------------------------------------------------------------------

const template: Template = packagedTemplate();
const logicalId = (fn: string) => `${fn.charAt(0).toUpperCase()}${fn.slice(1)}LambdaFunction`;

interface Identity {
  functionName: string;
  /** The role's session as Lambda signs with it. */
  principal: string;
  policy: PolicyDocument;
}

function identityOf(fn: FunctionName): Identity {
  const roleId = functionRoleId(template, logicalId(fn));
  const role = template.Resources[roleId]?.Properties ?? {};
  // Inline statements are all the role has: no managed policy adds to them, no boundary cuts them.
  expect(role.ManagedPolicyArns ?? [], `${fn}: managed policies of ${roleId}`).toEqual([]);
  expect(role.PermissionsBoundary, `${fn}: permissions boundary of ${roleId}`).toBeUndefined();
  const roleName = String(resolveIntrinsics(role.RoleName, STACK));
  const functionName = String(
    resolveIntrinsics(template.Resources[logicalId(fn)]?.Properties.FunctionName, STACK),
  );
  const statements = resolveIntrinsics(roleStatements(template, roleId), STACK) as PolicyStatement[];
  return {
    functionName,
    principal: `arn:aws:sts::${HOME.accountId}:assumed-role/${roleName}/${functionName}`,
    policy: { Version: "2012-10-17", Statement: statements },
  };
}

/**
 * What Lambda itself does with the function's role: an asynchronous invocation that fails for good
 * is sent to its on-failure destination with the function's own credentials.
 */
function platformRequests(fn: FunctionName): AuthRequest[] {
  const id = logicalId(fn);
  return Object.values(template.Resources)
    .filter((r) => r.Type === "AWS::Lambda::EventInvokeConfig")
    .filter((r) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ Ref: id }))
    .flatMap((r) => {
      const config = resolveIntrinsics(r.Properties.DestinationConfig, STACK) as Record<
        string,
        { Destination: string }
      >;
      return Object.entries(config).map(([on, { Destination }]) => {
        if (!Destination.startsWith("arn:aws:sqs:"))
          throw new Error(`${fn}: ${on} destination ${Destination} is not modelled here`);
        return {
          action: "sqs:SendMessage",
          resource: Destination,
          accountId: Destination.split(":")[4] ?? "",
          context: {},
          origin: `Lambda's ${on} destination of ${fn}`,
        };
      });
    });
}

/** What Lambda's X-Ray integration sends for every traced function: its code never calls X-Ray. */
function isTracing(statement: PolicyStatement): boolean {
  const actions = [statement.Action].flat();
  return (
    actions.every((action) => action === "xray:PutTraceSegments" || action === "xray:PutTelemetryRecords") &&
    [statement.Resource].flat().every((resource) => resource === "*")
  );
}

/** The statement serverless adds to every role: logs, of the function's own log group only. */
function isFrameworkLogs(identity: Identity, statement: PolicyStatement): boolean {
  const logGroup = `arn:aws:logs:${HOME.region}:${HOME.accountId}:log-group:/aws/lambda/${identity.functionName}:`;
  return (
    [statement.Action].flat().every((action) => action.startsWith("logs:")) &&
    [statement.Resource].flat().every((resource) => resource.startsWith(logGroup))
  );
}

// ---------------------------------------------------------------------------------------------
// Evaluation, once per distinct request
// ---------------------------------------------------------------------------------------------

const verdicts = new Map<string, Promise<Verdict>>();

function evaluate(identity: Identity, request: AuthRequest): Promise<Verdict> {
  const { action, resource, accountId, context, resourcePolicy } = request;
  const id = JSON.stringify([identity.principal, action, resource, accountId, context, resourcePolicy]);
  let verdict = verdicts.get(id);
  if (!verdict) {
    verdict = authorize(identity.principal, identity.policy, request);
    verdicts.set(id, verdict);
  }
  return verdict;
}

async function evaluated(fn: FunctionName) {
  const identity = identityOf(fn);
  const requests = [...(recorded.get(fn)?.requests ?? []), ...platformRequests(fn)];
  const results = await Promise.all(
    requests.map(async (request) => ({ request, verdict: await evaluate(identity, request) })),
  );
  return { identity, results };
}

// ---------------------------------------------------------------------------------------------

describe("least privilege of every function, from the packaged template", () => {
  beforeAll(async () => {
    // The home account ({}): IAM is called with the function's own role, not an assumed one.
    // The registrar heartbeats the executions it works for (SendTaskHeartbeat).
    await withSession(
      [],
      async (session) => {
        await run(session, {}, "SUCCEEDED");
        await run(session, {}, "SUCCEEDED"); // a re-run: reads only
      },
      true,
    );
    // Drift: 5 policy versions with a foreign default, foreign trusts, an orphaned key, a forgotten
    // password. Reaches DeletePolicyVersion, UpdateAssumeRolePolicy, DeleteAccessKey,
    // UpdateLoginProfile and PutSecretValue.
    await withSession([], async (session) => {
      await run(session, {}, "SUCCEEDED");
      const iam = session.env.runtime.clients.iam();
      await driftPolicies(iam, 4);
      await driftTrusts(iam);
      await orphanTheKey(session.env);
      // The new key's secret write is refused once: the retried step deletes the key it made
      // (recorded, not Redis's) before making the one it keeps.
      session.env.aws.fail(
        (call) => call.command === "PutSecretValue",
        () => awsError("secretsmanager", "InternalServiceError", "try again"),
        1,
      );
      // The new key goes to the same cloud account (whatever the name); the old one, deleted by
      // hand, is retired all the same: RetireOldKey's DeleteAccessKey on the home account's user.
      await run(session, { accountName: "home-after-drift" }, "SUCCEEDED");
    });
    // Refused at the console role: the rollback deletes what the run made.
    await withSession([], async (session) => {
      session.env.aws.fail(
        (call) => call.command === "CreateRole" && call.input.RoleName === CONSOLE_ROLE_NAME,
        denied("denied by an SCP"),
      );
      await run(session, {}, { failsWith: "AccessDenied" });
    });
    // Redis fails the cloud account: the registrar answers the failure (SendTaskFailure) and
    // withdraws it at Redis (reading the API keys); the rollback deletes everything, both roles included.
    await withSession([], async (session) => {
      session.env.redis.state.options.failAccounts = true;
      await run(session, {}, { failsWith: "CloudAccountError" });
    });
    // A failure after the run changed what existed before: the rollback restores the previous
    // default versions and trust policies.
    await withSession([], async (session) => {
      await run(session, {}, "SUCCEEDED");
      const iam = session.env.runtime.clients.iam();
      await driftPolicies(iam, 1);
      await driftTrusts(iam);
      session.env.aws.fail(
        (call) => call.command === "GetCallerIdentity",
        () => awsError("sts", "AccessDenied", "denied"),
      );
      await run(session, {}, { failsWith: "AccessDenied" });
    });
    // Foreign resources adopted, then a failure: the adoption's writes (detach, take out, reset,
    // overwrite) and the rollback's giving back (attach, put back, label the old version current,
    // the secret's policy before: none, then one). A plan of the same world reads only.
    for (const secretPolicy of [undefined, FOREIGN_SECRET_POLICY]) {
      await withSession([], async (session) => {
        await foreignWorld(session.env, secretPolicy);
        await run(session, { plan: true }, "SUCCEEDED");
        await run(session, {}, { failsWith: "ForeignResource" });
        const undo = session.env.aws.fail(
          (call) =>
            call.command === "AttachRolePolicy" &&
            call.input.RoleName === CONSOLE_ROLE_NAME &&
            String(call.input.PolicyArn).endsWith(`/${USER_POLICY_NAME}`),
          denied("denied by an SCP"),
        );
        await run(session, { adopt: true }, { failsWith: "AccessDenied" });
        undo();
        // A failure after the registration: the tag put on the adopted secret comes off again.
        await run(session, { adopt: true }, { failsWith: "AccessDenied" }, "RecordSuccess");
      });
    }
    // Target accounts: only sts:AssumeRole needs the function's role, with either role name.
    await withSession([TARGET, SECOND_TARGET], async (session) => {
      await run(session, { accountId: TARGET }, "SUCCEEDED");
      const undo = session.env.aws.fail(
        (call) =>
          call.accountId === TARGET &&
          call.command === "GetRole" &&
          call.input.RoleName === CONSOLE_ROLE_NAME,
        denied("denied"),
      );
      await run(session, { accountId: TARGET }, { failsWith: "AccessDenied" });
      undo();
      session.env.aws.fail(
        (call) => call.command === "CreateRole" && call.input.RoleName === CONSOLE_ROLE_NAME,
        denied("denied by an SCP"),
      );
      await run(
        session,
        { accountId: SECOND_TARGET, roleName: "AWSControlTowerExecution" },
        { failsWith: "AccessDenied" },
      );
    });
    // A replaced key in target accounts, through either role name: RetireOldKey assumes it, reads
    // the API keys, and deletes the old key with the assumed role.
    await withSession([TARGET, SECOND_TARGET], async (session) => {
      const targets = [
        { accountId: TARGET },
        { accountId: SECOND_TARGET, roleName: "AWSControlTowerExecution" },
      ];
      for (const input of targets) {
        await run(session, input, "SUCCEEDED");
        await replaceKey(session.env, input.accountId);
        await run(session, input, "SUCCEEDED");
      }
    });
    // Allow-lists: AuthorizeTarget reads the account's state and parent OU in Organizations.
    await withSession([TARGET, SECOND_TARGET], async (session) => {
      Object.assign(session.env.runtime.config, { allowedOuIds: [ALLOWED_OU] });
      session.env.aws.addOrganizationAccount(TARGET, ALLOWED_OU);
      session.env.aws.addOrganizationAccount(SECOND_TARGET, "ou-abcd-22222222");
      await run(session, { accountId: TARGET }, "SUCCEEDED");
      await run(session, { accountId: SECOND_TARGET }, { failsWith: "TargetNotAllowed" });
    });
    // --- Fleet view: the list scans the registry (page by page), one account is one GetItem ---
    await withSession([TARGET], async (session) => {
      await run(session, { accountId: TARGET }, "SUCCEEDED");
      await driveFleetReads(session);
    });
    await driveTriggers();
    await driveLaterWorkflows();
    await driveLaterTriggers();
  });

  it.each(FUNCTIONS)("%s: every call it makes is allowed by its role", async (fn) => {
    const { results } = await evaluated(fn);
    const entry = recorded.get(fn);
    console.log(
      `${fn}: ${entry?.calls ?? 0} calls evaluated (${results.length} requests with implied and platform ones); ` +
        `${entry?.inTargets ?? 0} made with a target account's role, ${entry?.signedByNewKey ?? 0} signed by the new user's key`,
    );
    const refused = results
      .filter(({ verdict }) => !verdict.allowed)
      .map(
        ({ request, verdict }) =>
          `${fn}: ${request.action} on ${request.resource} is ${verdict.result} (${request.origin})`,
      );
    expect([...new Set(refused)]).toEqual([]);
  });

  it.each(FUNCTIONS)("%s: its role grants no action on a resource that no call needed", async (fn) => {
    const { identity, results } = await evaluated(fn);
    const used = new Set(results.flatMap(({ verdict }) => verdict.usedGrants.map(grantKey)));
    const logs = new Set(
      identity.policy.Statement.flatMap((s, i) =>
        isFrameworkLogs(identity, s) || isTracing(s) ? [i + 1] : [],
      ),
    );
    const granted = grantsOf(identity.policy).filter((grant) => !logs.has(grant.statement));
    const covered = granted.filter((grant) => used.has(grantKey(grant)));
    const actions = [...new Set(covered.map((grant) => grant.action))].sort();
    console.log(
      `${fn}: ${covered.length} of ${granted.length} grants (action × resource) used: ${actions.join(", ") || "none granted"}`,
    );
    const named = (grant: Grant) =>
      `${fn}: statement ${grant.statement} grants ${grant.action} on ${grant.resource}`;
    const broader = [
      // A wildcard action grants more than the calls that use it.
      ...granted.filter((grant) => /[*?]/.test(grant.action)).map((grant) => `${named(grant)} by wildcard`),
      ...granted
        .filter((grant) => !used.has(grantKey(grant)))
        .map((grant) => `${named(grant)}, which no call needed`),
    ];
    expect(broader).toEqual([]);
  });
});
