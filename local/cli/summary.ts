import type { RegistryItem } from "../../functions/lib/registry.ts";
import type { EventLog, WorkflowResult } from "../workflow.ts";
import type { StateLine } from "./progress.ts";
import { type Data, errorOf, isData, latest } from "./state-data.ts";

/** What a run did, from the states' data only: the workflow never carries a secret there. */
export interface Summary {
  mode: "local" | "live";
  status: "SUCCEEDED" | "FAILED";
  execution: string;
  accountId: string;
  accountName: string | null;
  cloudAccountId: number | null;
  /** Whether this run registered the cloud account, or found it registered already. */
  cloudAccount: "registered" | "found" | null;
  credentialsSecretArn: string | null;
  /** What the run created or changed, step by step (each step's `changes`). */
  created: string[];
  /** What was already right (each step's `found`). */
  found: string[];
  error: { name: string; message: string } | null;
  rollback: { undone: string[]; leftBehind: { change: string; error: string }[] } | null;
  /** Whether AWS holds exactly what it held before the failed run; null where it cannot be told (live). */
  accountRestored: boolean | null;
  /** The account's registry item as the run left it; null where it cannot be read. */
  registry: { status: string; lastExecution: string; lastError: string | null; resources: number } | null;
  durationMs: number;
  states: StateLine[];
  /** A plan's answer (`--plan`): what a run would find foreign and would write; null for a run. */
  plan: Data | null;
}

/** The same labels as the rollback's `undone`, so that the two lists read side by side. */
function label(change: unknown): string {
  if (!isData(change)) return String(change);
  const { type, ...rest } = change;
  return [type, ...Object.values(rest)].map(String).join(" ");
}

function rollbackOf(events: EventLog[]): Summary["rollback"] {
  const rollback = latest(events, "rollback");
  if (!rollback) return null;
  if (Array.isArray(rollback.undone)) {
    const left = Array.isArray(rollback.leftBehind) ? rollback.leftBehind.filter(isData) : [];
    return {
      undone: rollback.undone.map(String),
      leftBehind: left.map((item) => ({ change: String(item.change), error: String(item.error) })),
    };
  }
  // The RollBack state's Catch puts the rollback's own error there: nothing is known undone.
  const why = `${String(rollback.Error)}: ${String(rollback.Cause)}`;
  return { undone: [], leftBehind: [{ change: "the whole rollback", error: why }] };
}

export function summarize(
  result: WorkflowResult,
  facts: {
    mode: Summary["mode"];
    /** The account asked for, until ValidateInput has resolved the target. */
    accountId: string;
    durationMs: number;
    states: StateLine[];
    accountRestored: boolean | null;
    registry?: RegistryItem | undefined;
  },
): Summary {
  const steps = latest(result.events, "steps") ?? {};
  const stepReports = Object.values(steps).filter(isData);
  const registration = latest(result.events, "registration");
  const target = latest(result.events, "target");
  const user = isData(steps.user) ? steps.user : {};
  const cloudAccountId = registration?.cloudAccountId;
  const rollback = result.status === "FAILED" ? rollbackOf(result.events) : null;
  const secretArn = typeof user.secretArn === "string" ? user.secretArn : null;
  // A secret the rollback deleted is gone: naming it would send the reader to nothing.
  const secretDeleted = rollback?.undone.includes(`Secret ${secretArn}`) ?? false;
  return {
    mode: facts.mode,
    status: result.status,
    execution: result.executionName,
    accountId: typeof target?.accountId === "string" ? target.accountId : facts.accountId,
    accountName: typeof target?.accountName === "string" ? target.accountName : null,
    cloudAccountId: typeof cloudAccountId === "number" ? cloudAccountId : null,
    cloudAccount: registration ? (registration.reused ? "found" : "registered") : null,
    plan: isData(result.output) && isData(result.output.plan) ? result.output.plan : null,
    credentialsSecretArn: secretDeleted ? null : secretArn,
    created: stepReports.flatMap((report) =>
      Array.isArray(report.changes) ? report.changes.map(label) : [],
    ),
    found: stepReports.flatMap((report) => (Array.isArray(report.found) ? report.found.map(String) : [])),
    error: errorOf(result),
    rollback,
    accountRestored: result.status === "FAILED" ? facts.accountRestored : null,
    registry: registryOf(facts.registry),
    durationMs: facts.durationMs,
    states: facts.states,
  };
}

/** What the summary says of the registry item: never more than references and counts. */
const registryOf = (item: RegistryItem | undefined): Summary["registry"] =>
  item
    ? {
        status: item.status,
        lastExecution: item.lastExecution,
        lastError: item.lastError ?? null,
        resources: item.resources.length,
      }
    : null;

const list = (title: string, items: string[]) => [
  `  ${title} (${items.length})${items.length > 0 ? ":" : ""}`,
  ...items.map((item) => `    ${item}`),
];

export function formatSummary(s: Summary): string {
  const seconds = (s.durationMs / 1000).toFixed(1);
  const who = `${s.accountId}${s.accountName ? ` (${s.accountName})` : ""}`;
  if (s.plan) return formatPlan(s.plan, who, seconds);
  const lines =
    s.status === "SUCCEEDED"
      ? [`Onboarded ${who} in ${seconds} s (execution ${s.execution})`]
      : [`Onboarding of ${who} FAILED after ${seconds} s (execution ${s.execution})`];
  if (s.error) lines.push(`  error: ${s.error.name}: ${s.error.message}`);
  if (s.cloudAccountId !== null) {
    const how = s.cloudAccount === "found" ? "registered before this run" : "registered by this run";
    lines.push(`  cloud account: ${s.cloudAccountId} (${how})`);
  }
  if (s.credentialsSecretArn) lines.push(`  credentials secret: ${s.credentialsSecretArn}`);
  lines.push(...list(s.status === "SUCCEEDED" ? "created" : "created before the failure", s.created));
  lines.push(...list("found already in place", s.found));
  if (s.rollback) {
    lines.push(...list("rollback undid", s.rollback.undone));
    lines.push(
      ...list(
        "rollback left",
        s.rollback.leftBehind.map((left) => `${left.change}: ${left.error}`),
      ),
    );
  }
  if (s.accountRestored !== null) lines.push(`  account restored: ${s.accountRestored ? "yes" : "no"}`);
  if (s.registry) {
    const error = s.registry.lastError ? ` (${s.registry.lastError})` : "";
    lines.push(`  registry: ${s.registry.status}${error}, ${s.registry.resources} resources recorded`);
  }
  if (s.status === "SUCCEEDED") lines.push("", ...nextSteps(s));
  return lines.join("\n");
}

/** What a reader does after a run that worked: where it ran decides. */
function nextSteps(s: Summary): string[] {
  const read = `aws secretsmanager get-secret-value --secret-id ${s.credentialsSecretArn ?? `redis-cloud/byoc/${s.accountId}`} --query SecretString`;
  if (s.mode === "live")
    return [
      "The credentials Redis uses are in the secret; read them (as a role allowed to) with:",
      `  ${read}`,
    ];
  return [
    "This was a local run: an in-memory AWS and a local Redis Cloud API, nothing was created anywhere.",
    "Next: deploy the stack (npm run deploy -- --stage prod --region us-east-1), start an",
    "onboarding (README: Three ways to start an onboarding), then, as the stack's secret reader role",
    "(parameter secretReaderRoleArn; nobody else may read it), read the credentials secret with:",
    `  aws secretsmanager get-secret-value --secret-id redis-cloud/byoc/${s.accountId} --query SecretString`,
  ];
}

/** A plan, as a reader checks it before a run: what stops it, what it would write, in order. */
function formatPlan(plan: Data, who: string, seconds: string): string {
  const writes = Array.isArray(plan.writes) ? plan.writes.filter(isData) : [];
  const foreign = Array.isArray(plan.foreign) ? plan.foreign.filter(isData) : [];
  const ifAdopted = Array.isArray(plan.writesIfAdopted) ? plan.writesIfAdopted.filter(isData) : [];
  const stops = isData(plan.stops) ? plan.stops : undefined;
  const write = (w: Data) => `${String(w.step)}: ${String(w.operation)} ${String(w.resource)}`;
  const lines = [`Plan of ${who} in ${seconds} s: ${String(plan.reads)} reads, nothing written`];
  lines.push(
    ...list(
      "foreign (not made by this product, not as Redis requires)",
      foreign.map(
        (f) => `${String(f.resource)}: ${(Array.isArray(f.differences) ? f.differences : []).join("; ")}`,
      ),
    ),
  );
  if (stops) lines.push(`  a run would stop before its first write: ${String(stops.error)}`);
  lines.push(...list("a run would write", writes.map(write)));
  if (writes.length === 0 && !stops) lines.push("  a run would write nothing: everything is in place");
  lines.push(...list('with "adopt": true (--adopt) it would write', ifAdopted.map(write)));
  return lines.join("\n");
}
