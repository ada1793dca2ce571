import { run as authorizeTarget } from "../functions/authorize-target.ts";
// --- Bulk onboarding ---
import { run as bulkPlan } from "../functions/bulk-plan.ts";
import { run as bulkSummary } from "../functions/bulk-summary.ts";
import { run as checkRegistration } from "../functions/check-registration.ts";
import { run as ensureConsoleRole } from "../functions/ensure-console-role.ts";
import { run as ensureInstancePolicy } from "../functions/ensure-instance-policy.ts";
import { run as ensureNodeRole } from "../functions/ensure-node-role.ts";
import { run as ensureUser } from "../functions/ensure-user.ts";
import { run as ensureUserPolicy } from "../functions/ensure-user-policy.ts";
import type { StepRun } from "../functions/lib/define-step.ts";
// --- Reconcile ---
import { run as listReconcilePage } from "../functions/list-reconcile-page.ts";
// --- Offboarding ---
import { run as offboardAtRedis } from "../functions/offboard-at-redis.ts";
import { run as offboardBegin } from "../functions/offboard-begin.ts";
import { run as offboardFailure } from "../functions/offboard-failure.ts";
import { run as offboardFinish } from "../functions/offboard-finish.ts";
import { run as offboardIam } from "../functions/offboard-iam.ts";
import { run as offboardSecret } from "../functions/offboard-secret.ts";
import { run as offboardStart } from "../functions/offboard-start.ts";
import { run as planOnboarding } from "../functions/plan-onboarding.ts";
import { run as reconcileAccount } from "../functions/reconcile-account.ts";
import { run as recordFailure } from "../functions/record-failure.ts";
import { run as recordStart } from "../functions/record-start.ts";
import { run as recordSuccess } from "../functions/record-success.ts";
import { run as registerCloudAccount } from "../functions/register-cloud-account.ts";
import { run as registrarTick } from "../functions/registrar-tick.ts";
import { run as retireOldKey } from "../functions/retire-old-key.ts";
import { run as rollback } from "../functions/rollback.ts";
// Credential rotation.
import { run as rotateBegin } from "../functions/rotate-begin.ts";
import { run as rotateCreateKey } from "../functions/rotate-create-key.ts";
import { run as rotateFinish } from "../functions/rotate-finish.ts";
import { run as rotateOldKey } from "../functions/rotate-old-key.ts";
import { run as rotatePromote } from "../functions/rotate-promote.ts";
import { run as rotateUndo } from "../functions/rotate-undo.ts";
import { run as rotateValidate } from "../functions/rotate-validate.ts";
import { run as submitToRegistrar } from "../functions/submit-to-registrar.ts";
import { run as validateInput } from "../functions/validate-input.ts";
import { run as verifyAccessKey } from "../functions/verify-access-key.ts";
import { run as withdrawRegistration } from "../functions/withdraw-registration.ts";

/**
 * The code behind each function of serverless.yml, by the name the definition's Fn::GetAtt
 * uses: the same `run` the Lambda handlers wrap; the runtime says where AWS and Redis are.
 */
export function stepRuns(): Record<string, StepRun<unknown>> {
  return {
    validateInput,
    authorizeTarget,
    recordStart,
    planOnboarding,
    ensureInstancePolicy,
    ensureNodeRole,
    ensureUserPolicy,
    ensureUser,
    ensureConsoleRole,
    verifyAccessKey,
    // The hand-over to the registrar, its tick, and the steps' code it runs for each request.
    submitToRegistrar,
    registrarTick,
    registerCloudAccount,
    checkRegistration,
    withdrawRegistration,
    retireOldKey,
    recordSuccess,
    rollback,
    recordFailure,
    // Credential rotation.
    rotateValidate,
    rotateBegin,
    rotateCreateKey,
    rotatePromote,
    rotateOldKey,
    rotateUndo,
    rotateFinish,
    // --- Reconcile ---
    listReconcilePage,
    reconcileAccount,
    // --- Bulk onboarding ---
    bulkPlan,
    bulkSummary,
    // --- Offboarding ---
    offboardStart,
    offboardAtRedis,
    offboardBegin,
    offboardIam,
    offboardSecret,
    offboardFinish,
    offboardFailure,
  };
}
