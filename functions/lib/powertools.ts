import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";

/*
 * The one logger and metrics registry of every function. The tracer is in ./tracing.ts: it
 * brings the X-Ray SDK (~130 KB), and only functions that call AWS need it.
 */

export const SERVICE_NAME = "redis-cloud-byoc-onboarding";

/** CloudWatch namespace of every metric the product emits (the dashboard reads the same). */
export const METRICS_NAMESPACE = "RedisCloudByoc";

export const logger = new Logger({ serviceName: SERVICE_NAME });

export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
