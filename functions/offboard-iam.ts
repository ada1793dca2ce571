import type { IAMClient } from "@aws-sdk/client-iam";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Home } from "./lib/aws.ts";
import type { Config } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { retryTransient } from "./lib/errors.ts";
import { type IamReport, offboardingRun, SECRET_CHANGES } from "./lib/offboarding.ts";
import { identityOf } from "./lib/ownership.ts";
import type { Registry, RegistryEntry } from "./lib/registry.ts";
import { checkChange } from "./lib/rollback-checks.ts";
import { type StepInput, StepInputSchema, StepRecorder } from "./lib/step.ts";
import { targetDeps, targetStepWithSecrets } from "./lib/target-step.ts";
import { describe, UNDO_RANK, undo } from "./rollback.ts";

const STEP = "RemoveIamResources";

/*
 * Deletes in the account exactly what the registry says the product made there, with the
 * rollback's own checks and undo code: each resource is checked to be still as the run that made
 * it left it (its tag, or the state it recorded), then undone in dependency order (keys and login
 * profile before the user, detach before delete, the instance profile, roles, policies with all
 * their versions). What was found is not in the registry and is never touched; what was adopted
 * gets back the state recorded before the product changed it. Each resource dealt with is
 * forgotten by the registry as it goes, so a re-run does only what is left.
 */

export interface OffboardIamDeps {
  iam: IAMClient;
  secrets: SecretsManagerClient;
  home: Home;
  config: Pick<Config, "secretNamePrefix">;
  registry: Pick<Registry, "get" | "forgetEntries">;
}

/** Entity types whose deletion takes every change made to them along. */
const ENTITIES = new Set(["Policy", "Role", "InstanceProfile", "User"]);

export async function removeIamResources(input: StepInput, deps: OffboardIamDeps): Promise<IamReport> {
  const { accountId } = input.target;
  const item = await offboardingRun(deps.registry, accountId, input.execution, STEP);
  const report: IamReport = { removed: [], kept: [], gaveBack: [], cannotGiveBack: [] };
  const iamEntries = item.resources.filter((e) => !SECRET_CHANGES.has(e.change.type));
  const made = iamEntries.filter((e) => e.origin !== "adopted");
  const deleted = new Set(
    made
      .filter((e) => e.origin === "created" && ENTITIES.has(e.change.type))
      .map((e) => identityOf(e.change)),
  );
  // A change to a resource the product made goes with the resource.
  // A reset password cannot be undone: its adopted user is reported below.
  const toUndo = made.filter(
    (e) =>
      e.change.type !== "LoginProfilePassword" &&
      (e.origin === "created" || !deleted.has(identityOf(e.change))),
  );
  const done: RegistryEntry[] = made.filter((e) => !toUndo.includes(e));
  const failed = new Set<string>();
  const refused = new Set<string>();
  let firstError: unknown;
  for (const entry of undoOrder(toUndo)) {
    const label = describe(entry.change);
    // The check reads the tag of the run that made it, not this one's.
    const rec = new StepRecorder(STEP, entry.execution);
    const ctx = { ...deps, accountId, rec };
    try {
      const verdict = await checkChange(entry.change, ctx);
      if (typeof verdict === "object") {
        report.kept.push({ resource: label, reason: verdict.refused });
        refused.add(identityOf(entry.change));
        done.push(entry);
        continue;
      }
      if (verdict === "undo") await retryTransient(() => undo(entry.change, deps, rec));
      report.removed.push(label);
      done.push(entry);
    } catch (error) {
      failed.add(identityOf(entry.change));
      firstError ??= error;
    }
  }
  for (const entry of iamEntries.filter((e) => e.origin === "adopted")) {
    const resource = identityOf(entry.change);
    if (failed.has(resource)) continue;
    const reset = made.find(
      (e) => e.change.type === "LoginProfilePassword" && identityOf(e.change) === resource,
    );
    if (refused.has(resource)) {
      report.cannotGiveBack.push({
        resource,
        reason: "it was changed after the product changed it: left as it is",
      });
    } else if (reset) {
      report.cannotGiveBack.push({
        resource,
        reason: "its console password was reset when it was adopted; the one before cannot be given back",
      });
    } else report.gaveBack.push(resource);
    done.push(entry);
  }
  // Forgotten before a failure is told: a re-run starts from what is left.
  if (done.length > 0) await deps.registry.forgetEntries(accountId, input.execution, done);
  if (firstError !== undefined) throw firstError;
  return report;
}

function undoOrder(entries: RegistryEntry[]): RegistryEntry[] {
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => UNDO_RANK[a.entry.change.type] - UNDO_RANK[b.entry.change.type] || b.index - a.index)
    .map(({ entry }) => entry);
}

export const { run, handler } = defineStep({
  name: STEP,
  input: StepInputSchema,
  settings: [...targetStepWithSecrets.settings, "secretNamePrefix"],
  clients: targetStepWithSecrets.clients,
  deps: async (context): Promise<OffboardIamDeps> => ({
    ...(await targetDeps(context)),
    secrets: context.runtime.clients.secrets(),
    config: context.runtime.config,
  }),
  run: removeIamResources,
});
