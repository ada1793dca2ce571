import type { OnboardingInput } from "../../functions/validate-input.ts";
import type { EventLog, WorkflowResult } from "../workflow.ts";
import type { CliOptions } from "./args.ts";
import type { Backend } from "./backends.ts";
import { formatLine, Progress, type StateLine } from "./progress.ts";
import { errorOf, isData, numberOrNull, strings, textOrNull } from "./state-data.ts";

/*
 * `npm start -- --offboard`: runs statemachine/offboarding.asl.yml with the same progress lines and
 * the same kind of summary as an onboarding. Locally the in-memory world starts empty, so the
 * account is onboarded first in the same process (said so), then offboarded; with --live only the
 * offboarding runs, against the account as it is.
 */

interface CliPlan {
  options: CliOptions;
  input: OnboardingInput;
  record: ((event: EventLog) => void) | undefined;
}

interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

type Onboard = (
  plan: never,
  backend: Backend,
  io: never,
  progress: (text: string) => void,
) => Promise<number>;

/** What an offboarding did, from its output and the registry: never a secret. */
export interface OffboardSummary {
  mode: "local" | "live";
  status: "SUCCEEDED" | "FAILED";
  execution: string;
  accountId: string;
  message: string | null;
  cloudAccountId: number | null;
  accountState: string | null;
  removed: string[];
  kept: { resource: string; reason: string }[];
  gaveBack: string[];
  cannotGiveBack: { resource: string; reason: string }[];
  iamWentWithAccount: boolean;
  secret: { secretArn: string | null; deletionDate: string | null; recoveryDays: number } | null;
  error: { name: string; message: string } | null;
  registry: { status: string; lastExecution: string; lastError: string | null } | null;
  durationMs: number;
  states: StateLine[];
}

export async function offboardFromCli(
  plan: CliPlan,
  backend: Backend,
  io: Io,
  progress: (text: string) => void,
  onboard: Onboard,
): Promise<number> {
  const account = plan.input.accountId ?? backend.home.accountId;
  if (!backend.runWorkflow) throw new Error("this backend runs only the onboarding");
  if (backend.mode === "local") {
    progress(
      `The in-memory AWS and local Redis start empty: onboarding account ${account} first, in this process.\n`,
    );
    // With --json stdout holds one document, the offboarding's: the onboarding's goes with the progress.
    const onboardIo = plan.options.json ? { ...io, stdout: progress } : io;
    const onboarded = await onboard(plan as never, backend, onboardIo as never, progress);
    if (onboarded !== 0) return onboarded;
    progress("\n");
  }
  const where =
    backend.mode === "local" ? "in-memory AWS, local Redis Cloud API" : "real AWS and Redis Cloud";
  progress(`Offboarding account ${account} from ${backend.home.accountId} (${where})\n`);
  const states = new Progress((line) => progress(`${formatLine(line)}\n`));
  const started = Date.now();
  const input = {
    ...(plan.input.accountId === undefined ? {} : { accountId: plan.input.accountId }),
    ...(plan.input.roleName === undefined ? {} : { roleName: plan.input.roleName }),
  };
  const result = await backend.runWorkflow("offboarding", input, {
    runs: backend.runs,
    services: backend.services,
    onEvent: (event) => {
      states.handle(event);
      plan.record?.(event);
    },
  });
  const item = await backend.registry?.(account);
  const summary = summarizeOffboarding(result, {
    mode: backend.mode,
    accountId: account,
    durationMs: Date.now() - started,
    states: states.lines,
    registry: item
      ? { status: item.status, lastExecution: item.lastExecution, lastError: item.lastError ?? null }
      : null,
  });
  io.stdout(
    plan.options.json ? `${JSON.stringify(summary, null, 2)}\n` : `\n${formatOffboardSummary(summary)}\n`,
  );
  return result.status === "SUCCEEDED" ? 0 : 1;
}

const notDone = (value: unknown) =>
  (Array.isArray(value) ? value.filter(isData) : []).map((v) => ({
    resource: String(v.resource),
    reason: String(v.reason),
  }));

export function summarizeOffboarding(
  result: WorkflowResult,
  facts: Pick<OffboardSummary, "mode" | "accountId" | "durationMs" | "states" | "registry">,
): OffboardSummary {
  const output = isData(result.output) ? result.output : {};
  const iam = isData(output.iam) ? output.iam : {};
  const secret = isData(output.secret) ? output.secret : undefined;
  return {
    mode: facts.mode,
    status: result.status,
    execution: result.executionName,
    accountId: facts.accountId,
    message: textOrNull(output.message),
    cloudAccountId: numberOrNull(output.cloudAccountId),
    accountState: textOrNull(output.accountState),
    removed: strings(iam.removed),
    kept: notDone(iam.kept),
    gaveBack: strings(iam.gaveBack),
    cannotGiveBack: notDone(iam.cannotGiveBack),
    iamWentWithAccount: iam.wentWithAccount === true,
    secret: secret
      ? {
          secretArn: textOrNull(secret.secretArn),
          deletionDate: textOrNull(secret.deletionDate),
          recoveryDays: Number(secret.recoveryDays),
        }
      : null,
    error: errorOf(result),
    registry: facts.registry,
    durationMs: facts.durationMs,
    states: facts.states,
  };
}

export function formatOffboardSummary(s: OffboardSummary): string {
  const lines = [
    `Offboarding ${s.status === "SUCCEEDED" ? "succeeded" : "FAILED"} (${s.mode}, ${(s.durationMs / 1000).toFixed(1)} s)`,
    `  execution        ${s.execution}`,
    `  account          ${s.accountId}${s.accountState ? ` (${s.accountState})` : ""}`,
  ];
  if (s.message) lines.push(`  result           ${s.message}`);
  if (s.cloudAccountId !== null) lines.push(`  cloud account    ${s.cloudAccountId} deleted at Redis Cloud`);
  if (s.iamWentWithAccount) lines.push("  IAM              went with the account (closed or suspended)");
  for (const r of s.removed) lines.push(`  removed          ${r}`);
  for (const r of s.gaveBack) lines.push(`  given back       ${r}`);
  for (const r of s.kept) lines.push(`  kept             ${r.resource}: ${r.reason}`);
  for (const r of s.cannotGiveBack) lines.push(`  not given back   ${r.resource}: ${r.reason}`);
  if (s.secret?.secretArn) {
    lines.push(`  secret           ${s.secret.secretArn}`);
    lines.push(
      `                   deleted on ${s.secret.deletionDate ?? "(already gone)"} (recovery window ${s.secret.recoveryDays} days)`,
    );
  }
  if (s.error) lines.push(`  error            ${s.error.name}: ${s.error.message}`);
  if (s.registry) {
    const error = s.registry.lastError ? `, ${s.registry.lastError}` : "";
    lines.push(`  registry         ${s.registry.status} (${s.registry.lastExecution}${error})`);
  }
  return lines.join("\n");
}
