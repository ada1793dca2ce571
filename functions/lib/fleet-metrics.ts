import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { metrics } from "./powertools.ts";

/*
 * The fleet's numbers: what the stack's dashboard and alarms read (serverless.yml). Each is
 * emitted on its own (a single-metric EMF document), so its only dimension is Powertools' default
 * `service`, whatever dimensions the step's invocation adds to its other metrics: a widget or an
 * alarm names exactly {service}.
 */
export const FLEET_METRICS = {
  /** An onboarding run began (RecordStart), whatever started it. */
  onboardingStarted: { name: "OnboardingRunsStarted", unit: MetricUnit.Count },
  onboardingSucceeded: { name: "OnboardingRunsSucceeded", unit: MetricUnit.Count },
  onboardingFailed: { name: "OnboardingRunsFailed", unit: MetricUnit.Count },
  /** From the execution's start to its success, for p50 and p95. */
  onboardingDuration: { name: "OnboardingDuration", unit: MetricUnit.Seconds },
  /** Requests waiting in the registrar's queue, at each tick. */
  registrarQueueDepth: { name: "RegistrarQueueDepth", unit: MetricUnit.Count },
  /** Requests the registrar sent to Redis Cloud's API, at each tick. */
  redisRequests: { name: "RedisRequests", unit: MetricUnit.Count },
  /** Answers 429 (Too Many Requests) from Redis Cloud's API. */
  redisThrottled: { name: "RedisThrottled", unit: MetricUnit.Count },
  /** An account found drifted by a reconcile (one per account, whatever the number of differences). */
  driftDetected: { name: "DriftDetected", unit: MetricUnit.Count },
} as const;

export type FleetMetric = keyof typeof FLEET_METRICS;

/** Emits one fleet metric now, with the service dimension only. */
export function emitFleetMetric(metric: FleetMetric, value = 1, registry: Metrics = metrics): void {
  const { name, unit } = FLEET_METRICS[metric];
  const single = registry.singleMetric();
  single.addMetric(name, unit, value);
}
