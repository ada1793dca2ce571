import { isDeepStrictEqual } from "node:util";
import type { RegistryItem } from "../../functions/lib/registry.ts";
import type { EventLog, WorkflowResult } from "../workflow.ts";
import type { Backend } from "./backends.ts";
import { formatLine, Progress, type StateLine } from "./progress.ts";
import { latest, numberOrNull, textOrNull } from "./state-data.ts";
import { formatSummary, summarize } from "./summary.ts";

/*
 * `npm start -- --rotate`: the rotation workflow (statemachine/rotation.asl.yml) with the same
 * live progress and a summary. Locally the in-memory AWS starts empty, so the local target is
 * onboarded first in the same process, then rotated; live, the account must be onboarded already
 * (its registry item, in REGISTRY_TABLE_NAME's table, names the key and secret to rotate).
 */

export interface RotateCommand {
  input: { accountId?: string; roleName?: string };
  json: boolean;
  record?: ((event: EventLog) => void) | undefined;
}

/** The rotation's summary: ids and ARNs only, never a secret. */
export interface RotationSummary {
  mode: "local" | "live";
  status: "SUCCEEDED" | "FAILED";
  execution: string;
  accountId: string;
  cloudAccountId: number | null;
  credentialsSecretArn: string | null;
  /** The key Redis used before, and the one it uses now (the same when the rotation failed before the switch). */
  previousAccessKeyId: string | null;
  accessKeyId: string | null;
  error: { name: string; message: string } | null;
  /** What a failed rotation undid, or, after the switch, whether the old key was made active again. */
  undo: unknown;
  registry: { status: string; rotation: unknown } | null;
  durationMs: number;
  states: StateLine[];
}

export async function rotateCommand(
  command: RotateCommand,
  backend: Backend,
  io: { stdout(text: string): void },
  progress: (text: string) => void,
): Promise<number> {
  const rotate = backend.rotate;
  if (!rotate) throw new Error("this backend cannot run the rotation workflow");
  const account = command.input.accountId ?? backend.home.accountId;
  const where =
    backend.mode === "local" ? "in-memory AWS, local Redis Cloud API" : "real AWS and Redis Cloud";
  if (backend.mode === "local") {
    progress(
      `Local: the in-memory AWS starts empty, so account ${account} is onboarded first, then rotated\n`,
    );
    progress(`Onboarding account ${account} from ${backend.home.accountId} (${where})\n`);
    const states = new Progress((line) => progress(`${formatLine(line)}\n`));
    const started = Date.now();
    const onboarded = await backend.run(command.input, wiring(backend, states, command.record));
    if (onboarded.status !== "SUCCEEDED") {
      const summary = summarize(onboarded, {
        mode: backend.mode,
        accountId: account,
        durationMs: Date.now() - started,
        states: states.lines,
        accountRestored: null,
        registry: await backend.registry?.(account),
      });
      io.stdout(command.json ? `${JSON.stringify(summary, null, 2)}\n` : `\n${formatSummary(summary)}\n`);
      return 1;
    }
    progress("\n");
  }
  progress(`Rotating the credentials of account ${account} from ${backend.home.accountId} (${where})\n`);
  const states = new Progress((line) => progress(`${formatLine(line)}\n`));
  const started = Date.now();
  const result = await rotate({ ...command.input, rotate: true }, wiring(backend, states, command.record));
  const summary = summarizeRotation(result, {
    mode: backend.mode,
    accountId: account,
    durationMs: Date.now() - started,
    states: states.lines,
    registry: await backend.registry?.(account),
  });
  io.stdout(command.json ? `${JSON.stringify(summary, null, 2)}\n` : `\n${formatRotation(summary)}\n`);
  return result.status === "SUCCEEDED" ? 0 : 1;
}

function wiring(backend: Backend, states: Progress, record: RotateCommand["record"]) {
  return {
    runs: backend.runs,
    services: backend.services,
    onEvent: (event: EventLog) => {
      states.handle(event);
      record?.(event);
    },
  };
}

export function summarizeRotation(
  result: WorkflowResult,
  facts: {
    mode: "local" | "live";
    accountId: string;
    durationMs: number;
    states: StateLine[];
    registry?: RegistryItem | undefined;
  },
): RotationSummary {
  const rotation = latest(result.events, "rotation") ?? {};
  const newKey = latest(result.events, "newKey");
  const item = facts.registry;
  const error = result.error
    ? { name: result.error.Error ?? "Error", message: result.error.Cause ?? "" }
    : null;
  return {
    mode: facts.mode,
    status: result.status,
    execution: result.executionName,
    accountId: facts.accountId,
    cloudAccountId: numberOrNull(rotation.cloudAccountId),
    credentialsSecretArn: textOrNull(rotation.secretArn),
    previousAccessKeyId: textOrNull(rotation.previousAccessKeyId),
    accessKeyId: item?.accessKeyId ?? textOrNull(newKey?.newAccessKeyId),
    error,
    undo: result.status === "FAILED" ? (latest(result.events, "undo") ?? null) : null,
    registry: item ? { status: item.status, rotation: item.rotation ?? null } : null,
    durationMs: facts.durationMs,
    states: facts.states,
  };
}

export function formatRotation(s: RotationSummary): string {
  const seconds = (s.durationMs / 1000).toFixed(1);
  const lines =
    s.status === "SUCCEEDED"
      ? [`Rotated the credentials of ${s.accountId} in ${seconds} s (execution ${s.execution})`]
      : [`Rotation of ${s.accountId} FAILED after ${seconds} s (execution ${s.execution})`];
  if (s.error) lines.push(`  error: ${s.error.name}: ${s.error.message}`);
  if (s.cloudAccountId !== null) lines.push(`  cloud account: ${s.cloudAccountId}`);
  if (s.credentialsSecretArn) lines.push(`  credentials secret: ${s.credentialsSecretArn}`);
  const switched = s.accessKeyId !== null && !isDeepStrictEqual(s.accessKeyId, s.previousAccessKeyId);
  if (s.previousAccessKeyId) {
    lines.push(
      switched
        ? `  access key: ${s.previousAccessKeyId} -> ${s.accessKeyId} (Redis uses the new one)`
        : `  access key: ${s.previousAccessKeyId} (Redis still uses it)`,
    );
  }
  if (s.undo) lines.push(`  undo: ${JSON.stringify(s.undo)}`);
  if (s.registry)
    lines.push(`  registry: ${s.registry.status}, rotation ${JSON.stringify(s.registry.rotation)}`);
  if (s.status === "SUCCEEDED") {
    lines.push(
      "",
      "The secret's AWSCURRENT version holds the new key and password, AWSPREVIOUS the old ones.",
    );
  }
  return lines.join("\n");
}
