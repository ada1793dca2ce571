import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { metrics } from "./powertools.ts";
import type { StartOutcome } from "./start-execution.ts";

/*
 * One metric per outcome of each way in besides the console; the handler's logMetrics middleware
 * flushes them (EMF) at the end of the invocation.
 */

/** Where a start came from: an account-vending event or the HTTP API. */
export type Origin = "vending" | "api";

export type StartMetricOutcome =
  | StartOutcome["kind"]
  | "ignored"
  | "refused"
  | "failed"
  // --- Event storms: an account active and reconciled clean recently (functions/lib/storm.ts) ---
  | "reconciled";

const START_METRICS: Record<StartMetricOutcome, string> = {
  started: "OnboardingsStarted",
  running: "OnboardingsAlreadyRunning",
  taken: "OnboardingsAlreadyHandled",
  // A vending event that is not for this deployment (another state, source or OU).
  ignored: "OnboardingStartsIgnored",
  // Input the start refused: a bad body, or a vending event whose format changed.
  refused: "OnboardingStartsRefused",
  // Step Functions or a setting failed.
  failed: "OnboardingStartsFailed",
  // --- Event storms ---
  reconciled: "OnboardingsAlreadyReconciled",
};

export function countStart(origin: Origin, outcome: StartMetricOutcome): void {
  metrics.addDimension("origin", origin);
  metrics.addMetric(START_METRICS[outcome], MetricUnit.Count, 1);
}

export type StatusReadOutcome = "answered" | "notFound" | "refused" | "failed";

const STATUS_METRICS: Record<StatusReadOutcome, string> = {
  answered: "OnboardingStatusAnswered",
  notFound: "OnboardingStatusNotFound",
  refused: "OnboardingStatusRefused",
  failed: "OnboardingStatusFailed",
};

export function countStatusRead(outcome: StatusReadOutcome): void {
  metrics.addMetric(STATUS_METRICS[outcome], MetricUnit.Count, 1);
}
