import { parseArgs } from "node:util";
import { BulkInputSchema } from "../../functions/lib/bulk-input.ts";
import { loadConfig } from "../../functions/lib/config.ts";
import { describeIssue } from "../../functions/lib/input.ts";
import type { LocalEnvironment } from "../environment.ts";
import { startLocalEnvironment } from "../environment.ts";
import type { EventLog, WorkflowName, WorkflowOptions, WorkflowResult } from "../workflow.ts";
import { SHARED_OPTIONS, UsageError } from "./args.ts";
import { LOCAL_KEY_PROPAGATION_MS, LOCAL_PAUSE_MS, liveBackend, type StartLocal } from "./backends.ts";

/*
 * `npm start -- --org`, `--accounts a,b,c`, `--ou <id>[,…]`: the bulk onboarding workflow
 * (statemachine/bulk-onboarding.asl.yml) with the real step code, locally against a demo
 * organization in the in-memory AWS, or with --live against real AWS. On a terminal one progress
 * line is rewritten in place; elsewhere (a pipe, a CI log) each finished account is a plain line.
 */

export const BULK_USAGE = `Usage: npm start -- (--org | --accounts <id,…> | --ou <ou-id,…>) [options]

Runs the bulk onboarding (statemachine/bulk-onboarding.asl.yml): lists the ACTIVE accounts,
leaves out the excluded, the refused and those already active in the registry, and onboards
each of the others, then prints the summary. Locally the organization is a demo one (three OUs).

Options:
  --org                       every ACTIVE account of the organization
  --accounts <id,…>           these accounts
  --ou <ou-id,…>              the accounts of these OUs (--include-child-ous: and of the OUs below)
  --exclude-ou <ou-id,…>      leave out the accounts under these OUs
  --exclude-account <id,…>    leave out these accounts
  --role <name>               the role to assume in each account (default OrganizationAccountAccessRole)
  --json                      the summary as one JSON document on stdout (progress on stderr)
  --live                      real AWS and the real Redis Cloud API (as for one onboarding)
  --api-keys-secret <id>      with --live: the secret holding the Redis Cloud API keys
  --yes                       with --live: do not ask for confirmation

Exit codes: 0 every account onboarded or skipped, 1 some failed, 2 bad usage or not confirmed.`;

const OPTIONS = {
  org: { type: "boolean" },
  accounts: { type: "string" },
  ou: { type: "string" },
  "include-child-ous": { type: "boolean" },
  "exclude-ou": { type: "string" },
  "exclude-account": { type: "string" },
  role: { type: "string" },
  ...SHARED_OPTIONS,
} as const;

/** The command line asks for a bulk run when it names a scope. */
export const isBulkCommand = (argv: string[]): boolean =>
  argv.some((arg) => /^--(org|accounts|ou)(=|$)/.test(arg));

export interface BulkIo {
  stdout(text: string): void;
  stderr(text: string): void;
  ask?: ((question: string) => Promise<string>) | undefined;
  env: Record<string, string | undefined>;
  /** A terminal: one progress line rewritten in place. */
  isTTY?: boolean;
}

export interface BulkHooks {
  startLocal?: StartLocal;
}

const list = (value: string | undefined) =>
  value === undefined
    ? undefined
    : value
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");

/** The workflow's input from the options, checked by the workflow's own schema (field → option). */
export function bulkInput(argv: string[]): {
  input: Record<string, unknown>;
  options: Record<string, unknown>;
} {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.split(". ")[0] ?? message);
  }
  const input: Record<string, unknown> = {};
  if (values.org) input.organization = true;
  if (values.accounts !== undefined) input.accountIds = list(values.accounts);
  if (values.ou !== undefined) input.ouIds = list(values.ou);
  if (values["include-child-ous"]) input.includeChildOus = true;
  if (values["exclude-ou"] !== undefined) input.excludeOuIds = list(values["exclude-ou"]);
  if (values["exclude-account"] !== undefined) input.excludeAccountIds = list(values["exclude-account"]);
  if (values.role !== undefined) input.roleName = values.role;
  const parsed = BulkInputSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const { field, problem } = describeIssue(parsed.error.issues[0]);
    const option = OPTION_OF_FIELD[field.split(".")[0] ?? ""] ?? "--org, --accounts or --ou";
    throw new UsageError(`option ${option}: ${field === "input" ? "name exactly one of them" : problem}`);
  }
  return { input, options: values };
}

const OPTION_OF_FIELD: Record<string, string> = {
  organization: "--org",
  accountIds: "--accounts",
  ouIds: "--ou",
  includeChildOus: "--include-child-ous",
  excludeOuIds: "--exclude-ou",
  excludeAccountIds: "--exclude-account",
  roleName: "--role",
};

const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, strict: true });

/** The local demo organization: three OUs under one root, one account suspended. */
export const DEMO_ORGANIZATION = {
  root: "r-demo",
  ous: { "ou-demo-11111111": "prod", "ou-demo-22222222": "dev", "ou-demo-33333333": "sandbox" },
  accounts: {
    "ou-demo-11111111": ["410000000001", "410000000002", "410000000003"],
    "ou-demo-22222222": ["420000000001", "420000000002"],
    "ou-demo-33333333": ["430000000001", "430000000002"],
  } as Record<string, string[]>,
  suspended: "430000000002",
};

function addDemoOrganization(env: LocalEnvironment): void {
  if (env.aws.organization.size > 0) return; // a caller's own organization
  for (const [ou, accounts] of Object.entries(DEMO_ORGANIZATION.accounts)) {
    env.aws.addOrganizationalUnit(ou, DEMO_ORGANIZATION.root);
    for (const id of accounts) {
      env.aws.addAccount(id, { roles: ["OrganizationAccountAccessRole", "AWSControlTowerExecution"] });
      env.aws.addOrganizationAccount(id, ou, id === DEMO_ORGANIZATION.suspended ? "SUSPENDED" : "ACTIVE");
    }
  }
}

type Run = (name: WorkflowName, input: unknown, options: Partial<WorkflowOptions>) => Promise<WorkflowResult>;

interface Target {
  mode: "local" | "live";
  run: Run;
  /** Executions waiting on the registrar's answer (at Redis, or queued for it). */
  waiting: () => number;
  close(): Promise<void>;
}

export async function bulkMain(argv: string[], io: BulkIo, hooks: BulkHooks = {}): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(`${BULK_USAGE}\n`);
    return 0;
  }
  let parsed: ReturnType<typeof bulkInput>;
  try {
    parsed = bulkInput(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`${error.message}\nRun with --help for the options.\n`);
    return 2;
  }
  const { input, options } = parsed;
  if (options.live && !options.yes) {
    const answer = await io.ask?.("This onboards every account listed, for real. Continue? [y/N] ");
    if (!/^y(es)?$/i.test(answer?.trim() ?? "")) {
      io.stderr("Not confirmed: nothing was done (--yes to skip the question).\n");
      return 2;
    }
  }
  const progressOut = (text: string) => (options.json ? io.stderr(text) : io.stdout(text));
  const target = options.live
    ? await liveTarget(io, options.apiKeysSecret as string | undefined, progressOut)
    : await localTarget(input, hooks);
  try {
    const where =
      target.mode === "local" ? "in-memory AWS, local Redis Cloud API" : "real AWS and Redis Cloud";
    progressOut(`Bulk onboarding (${where})\n`);
    const progress = new BulkProgress(io.isTTY === true && !options.json, progressOut, target.waiting);
    const result = await target.run("bulk-onboarding", input, { onEvent: (event) => progress.handle(event) });
    progress.end();
    if (result.status !== "SUCCEEDED") {
      io.stderr(
        `the bulk onboarding failed: ${result.error?.Error}: ${describeCause(result.error?.Cause)}\n`,
      );
      return result.error?.Error === "InvalidInput" ? 2 : 1;
    }
    const summary = result.output as { failed?: number };
    io.stdout(options.json ? `${JSON.stringify(summary, null, 2)}\n` : formatBulkSummary(result.output));
    return (summary.failed ?? 0) > 0 ? 1 : 0;
  } finally {
    await target.close();
  }
}

async function localTarget(input: Record<string, unknown>, hooks: BulkHooks): Promise<Target> {
  const accounts = (input.accountIds as string[] | undefined) ?? [];
  const env = await (hooks.startLocal ?? startLocalEnvironment)({
    targets: accounts,
    aws: { keyPropagationMs: LOCAL_KEY_PROPAGATION_MS },
  });
  addDemoOrganization(env);
  return {
    mode: "local",
    run: (name, workflowInput, options) =>
      env.runWorkflow(name, workflowInput, { pauseMs: LOCAL_PAUSE_MS, ...options }),
    waiting: () => env.registrar.waiting,
    close: () => env.close(),
  };
}

/** Real AWS: each account's onboarding runs here too, as the Map's child, through the same backend. */
async function liveTarget(io: BulkIo, apiKeysSecret: string | undefined, notice: (text: string) => void) {
  const backend = await liveBackend({ env: io.env, config: loadConfig(io.env), apiKeysSecret }, (text) =>
    notice(`${text}\n`),
  );
  if (!backend.runWorkflow) throw new Error("this backend runs no bulk onboarding");
  const run = backend.runWorkflow;
  return {
    mode: "live" as const,
    run: (name: WorkflowName, input: unknown, options: Partial<WorkflowOptions>) => run(name, input, options),
    waiting: () => backend.waitingAtRedis?.() ?? 0,
    close: () => backend.close(),
  };
}

/** The onboardings done, failed so far and waiting at Redis, from the Map's item events. */
export class BulkProgress {
  total = 0;
  done = 0;
  failed = 0;
  private accounts: string[] = [];
  private shown = "";

  constructor(
    private readonly tty: boolean,
    private readonly write: (text: string) => void,
    private readonly waiting: () => number,
  ) {}

  handle(event: EventLog): void {
    if (event.type === "StateExited" && event.state.name === "PlanBulk") {
      const plan = event.state.output as { accounts?: string[] } | undefined;
      this.accounts = plan?.accounts ?? [];
      this.total = this.accounts.length;
      if (!this.tty) this.write(`  ${this.total} accounts to onboard\n`);
    }
    if (event.type === "MapIterationSucceeded" || event.type === "MapIterationFailed") {
      this.done += 1;
      const output = "output" in event ? event.output : undefined;
      const ok = event.type === "MapIterationSucceeded" && output === "ok";
      if (!ok) this.failed += 1;
      if (!this.tty) {
        // The item's index in the plan's list, which the Map iterates in order.
        const account = this.accounts[(event as { index?: number }).index ?? -1] ?? "?";
        this.write(
          `  ${account} ${ok ? "onboarded" : `failed (${String(output)})`} (${this.done}/${this.total})\n`,
        );
      }
    }
    if (this.tty) this.redraw();
  }

  /** The one line: done / total, failed so far, waiting at Redis. */
  line(): string {
    return `  ${this.done}/${this.total} done, ${this.failed} failed, ${this.waiting()} waiting at Redis`;
  }

  private redraw(): void {
    const line = this.line();
    if (line === this.shown) return;
    this.shown = line;
    this.write(`\r\x1b[2K${line}`);
  }

  end(): void {
    if (this.tty) this.write(`\r\x1b[2K${this.line()}\n`);
  }
}

export function formatBulkSummary(output: unknown): string {
  const summary = output as {
    started: number;
    onboarded: number;
    failed: number;
    failures: Record<string, number>;
    failedAccounts: { accountId: string; error: string }[];
    skipped: Record<string, number>;
    skippedAccounts: Record<string, string[]>;
  };
  const lines = [
    "",
    `Onboarded ${summary.onboarded} of ${summary.started} started; ${summary.failed} failed.`,
  ];
  for (const [error, count] of Object.entries(summary.failures))
    lines.push(`  failed with ${error}: ${count}`);
  for (const { accountId, error } of summary.failedAccounts) lines.push(`    ${accountId} ${error}`);
  const skipped = Object.entries(summary.skipped).filter(([, count]) => count > 0);
  lines.push(`Skipped ${skipped.reduce((sum, [, count]) => sum + count, 0)}:`);
  for (const [reason, count] of skipped) {
    lines.push(`  ${reason}: ${count} (${(summary.skippedAccounts[reason] ?? []).join(", ")})`);
  }
  return `${lines.join("\n")}\n`;
}

const describeCause = (cause: string | undefined): string => {
  try {
    return (JSON.parse(cause ?? "") as { errorMessage?: string }).errorMessage ?? cause ?? "";
  } catch {
    return cause ?? "";
  }
};
