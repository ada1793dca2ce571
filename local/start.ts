import { appendFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { sdkClients } from "../functions/lib/aws.ts";
import { type Config, loadConfig } from "../functions/lib/config.ts";
import { WorkflowError } from "../functions/lib/errors.ts";
import { logger } from "../functions/lib/powertools.ts";
import { type OnboardingInput, validateInput } from "../functions/validate-input.ts";
import { type CliOptions, LOCAL_TARGET, parseCli, USAGE, UsageError } from "./cli/args.ts";
import { type Backend, liveBackend, localBackend, type StartLocal } from "./cli/backends.ts";
import { bulkMain, isBulkCommand } from "./cli/bulk.ts";
import { type FailableState, failableState, failingAt } from "./cli/fail-at.ts";
// --- Offboarding ---
import { offboardFromCli } from "./cli/offboard.ts";
import { formatLine, Progress } from "./cli/progress.ts";
import { type RotateCommand, rotateCommand } from "./cli/rotate.ts";
import { fleetOutput, showFleet, statusOnly } from "./cli/status.ts";
import { formatSummary, summarize } from "./cli/summary.ts";
import { HOME, startLocalEnvironment } from "./environment.ts";
import type { EventLog } from "./workflow.ts";

/** Where the command writes and asks; the tests pass their own. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Asks a question on the terminal; absent when stdin is not one. */
  ask?: ((question: string) => Promise<string>) | undefined;
  env: Record<string, string | undefined>;
  /** stdout is a terminal: a bulk run rewrites one progress line in place. */
  isTTY?: boolean;
}

export interface Hooks {
  /** Starts the local environment (tests keep a handle on it to read what it holds). */
  startLocal?: StartLocal;
}

/** Everything checked before anything runs: a problem here is bad usage (exit 2). */
interface Plan {
  options: CliOptions;
  config: Config;
  input: OnboardingInput;
  failAt: FailableState | undefined;
  record: ((event: EventLog) => void) | undefined;
}

export async function main(argv: string[], io: Io, hooks: Hooks = {}): Promise<number> {
  // --- Bulk onboarding: --org, --accounts, --ou (local/cli/bulk.ts) ---
  if (isBulkCommand(argv)) {
    logger.setLogLevel("SILENT");
    return bulkMain(argv, { ...io, isTTY: io.isTTY ?? false }, hooks);
  }
  let plan: Plan;
  try {
    const options = parseCli(argv);
    if (options.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    // --- Fleet view: --status alone prints the registry and runs nothing ---
    if (statusOnly(options)) {
      const startLocal = hooks.startLocal ?? startLocalEnvironment;
      return await showFleet(options, io, {
        startLocal: () => startLocal({ targets: [] }),
        liveClient: () => sdkClients().dynamodb(),
      });
    }
    plan = prepare(options, io);
  } catch (error) {
    return usageFailure(io, error);
  }
  const { options } = plan;
  if (options.live && !options.yes && !io.ask) {
    io.stderr(
      "--live creates IAM resources in a real account: without a terminal to confirm on, pass --yes\n",
    );
    return 2;
  }
  // The steps log for CloudWatch; here the progress and the summary are the output.
  logger.setLogLevel("SILENT");
  // --- Fleet metrics: EMF lines on stdout are for CloudWatch, not this command's output ---
  process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
  const progress = (text: string) => (options.json ? io.stderr(text) : io.stdout(text));
  let backend: Backend;
  try {
    backend = await openBackend(plan, io, hooks, progress);
  } catch (error) {
    if (isUsageError(error)) return usageFailure(io, error);
    io.stderr(`cannot start: ${describe(error)}\n`);
    return 1;
  }
  try {
    if (options.live && !options.yes && !(await confirmed(plan, backend, io))) {
      io.stderr("Not confirmed: nothing was done.\n");
      return 2;
    }
    // Credential rotation: --rotate runs the rotation workflow (local/cli/rotate.ts).
    if (options.rotate) return await rotateCommand(rotationOf(plan), backend, io, progress);
    // --- Offboarding ---
    if (options.offboard) return await offboardFromCli(plan, backend, io, progress, onboard);
    return await onboard(plan, backend, io, progress);
  } catch (error) {
    io.stderr(`the run stopped: ${describe(error)}\n`);
    return 1;
  } finally {
    await backend.close();
  }
}

/** The only place the two modes differ: what the workflow runs against. */
function openBackend(plan: Plan, io: Io, hooks: Hooks, progress: (text: string) => void): Promise<Backend> {
  if (!plan.options.live) {
    return localBackend(plan.input.accountId ?? LOCAL_TARGET, hooks.startLocal ?? startLocalEnvironment);
  }
  const settings = { env: io.env, config: plan.config, apiKeysSecret: plan.options.apiKeysSecret };
  return liveBackend(settings, (text) => progress(`${text}\n`));
}

/** The part shared by both modes: run, show each state as it ends, then the summary. */
async function onboard(plan: Plan, backend: Backend, io: Io, progress: (text: string) => void) {
  const account = plan.input.accountId ?? backend.home.accountId;
  const where =
    backend.mode === "local" ? "in-memory AWS, local Redis Cloud API" : "real AWS and Redis Cloud";
  const doing = plan.input.plan ? "Planning the onboarding of" : "Onboarding";
  progress(`${doing} account ${account} from ${backend.home.accountId} (${where})\n`);
  const states = new Progress((line) => progress(`${formatLine(line)}\n`));
  const wiring = {
    runs: backend.runs,
    services: backend.services,
    onEvent: (event: EventLog) => {
      states.handle(event);
      plan.record?.(event);
    },
  };
  const before = backend.snapshot?.();
  const started = Date.now();
  const result = await backend.run(plan.input, plan.failAt ? failingAt(plan.failAt, wiring) : wiring);
  const summary = summarize(result, {
    mode: backend.mode,
    accountId: account,
    durationMs: Date.now() - started,
    states: states.lines,
    accountRestored: before === undefined ? null : isDeepStrictEqual(before, backend.snapshot?.()),
    registry: await backend.registry?.(account),
  });
  // --- Fleet view: with --status, the registry as the run left it (in the same JSON document) ---
  const accounts = plan.options.status ? await backend.fleet?.() : undefined;
  const document = accounts ? { ...summary, accounts } : summary;
  io.stdout(plan.options.json ? `${JSON.stringify(document, null, 2)}\n` : `\n${formatSummary(summary)}\n`);
  if (accounts && !plan.options.json) io.stdout(`\n${fleetOutput(accounts, plan.options)}`);
  const target = plan.failAt?.state;
  if (target && !result.events.some((e) => e.type === "StateEntered" && e.state.name === target)) {
    // A state of the failure path (or a loop not taken) may never run: say so, not "it worked".
    io.stderr(`note: --fail-at ${target}: the execution never entered that state, so nothing was failed\n`);
  }
  return result.status === "SUCCEEDED" ? 0 : 1;
}

function prepare(options: CliOptions, io: Io): Plan {
  // Locally the deployment's defaults; live, the caller may set them as the stack's parameters.
  const config = loadConfig(options.live ? io.env : {});
  const input: OnboardingInput = {};
  const account = options.account ?? (options.live ? undefined : LOCAL_TARGET);
  if (account !== undefined) input.accountId = account;
  if (options.role !== undefined) input.roleName = options.role;
  if (options.name !== undefined) input.accountName = options.name;
  if (options.plan) input.plan = true;
  if (options.adopt) input.adopt = true;
  checkInput(input, config);
  return {
    options,
    config,
    input,
    failAt: options.failAt === undefined ? undefined : failableState(options.failAt),
    record: options.events === undefined ? undefined : eventsFile(options.events),
  };
}

const OPTION_OF_FIELD: Record<string, string> = {
  accountId: "--account",
  roleName: "--role",
  accountName: "--name",
};

/**
 * The workflow's own first state judges the input, so that the command refuses exactly what
 * the state machine would; its message names the field, told here as the option.
 */
function checkInput(input: OnboardingInput, config: Config): void {
  try {
    validateInput(input, { home: HOME, config });
  } catch (error) {
    if (!(error instanceof WorkflowError) || error.name !== "InvalidInput") throw error;
    const [field = "", ...problem] = error.message.split(": ");
    throw new UsageError(`option ${OPTION_OF_FIELD[field] ?? field}: ${problem.join(": ")}`);
  }
}

/** Every state event, with the state's input and output, one JSON document a line. */
function eventsFile(path: string): (event: EventLog) => void {
  try {
    writeFileSync(path, "");
  } catch (error) {
    throw new UsageError(`option --events: cannot write ${path} (${describe(error)})`);
  }
  return (event) => {
    if ("state" in event) appendFileSync(path, `${JSON.stringify(event)}\n`);
  };
}

async function confirmed(plan: Plan, backend: Backend, io: Io): Promise<boolean> {
  const account = plan.input.accountId ?? backend.home.accountId;
  // --- Offboarding ---
  if (plan.options.offboard) {
    const sure = await io.ask?.(
      `This will delete account ${account}'s cloud account at Redis Cloud and the IAM resources the product made there. Continue? [y/N] `,
    );
    return /^y(es)?$/i.test(sure?.trim() ?? "");
  }
  const answer = await io.ask?.(
    `This will create IAM resources in account ${account} and register it with Redis Cloud. Continue? [y/N] `,
  );
  return /^y(es)?$/i.test(answer?.trim() ?? "");
}

const isUsageError = (error: unknown): boolean =>
  error instanceof UsageError || (error instanceof WorkflowError && error.name === "ConfigurationError");

function usageFailure(io: Io, error: unknown): number {
  if (!isUsageError(error)) throw error;
  io.stderr(`${(error as Error).message}\nRun with --help for the options.\n`);
  return 2;
}

const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

function processIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    // Asked on stderr, so that a --json document stays alone on stdout.
    ask: process.stdin.isTTY
      ? async (question) => {
          const terminal = createInterface({ input: process.stdin, output: process.stderr });
          try {
            return await terminal.question(question);
          } finally {
            terminal.close();
          }
        }
      : undefined,
    env: process.env,
    isTTY: process.stdout.isTTY === true,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2), processIo());
}

/** Credential rotation: the command's part of the plan (the account and role only). */
function rotationOf(plan: Plan): RotateCommand {
  const { accountId, roleName } = plan.input;
  return {
    input: { ...(accountId ? { accountId } : {}), ...(roleName ? { roleName } : {}) },
    json: plan.options.json,
    record: plan.record,
  };
}
