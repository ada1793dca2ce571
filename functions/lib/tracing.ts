import { Tracer } from "@aws-lambda-powertools/tracer";
import { SERVICE_NAME } from "./powertools.ts";

/**
 * X-Ray tracing of the handler and of every SDK client it makes. Outside Lambda (tests, local
 * runs) the tracer is disabled and hands clients back untouched.
 */
export const tracer = new Tracer({ serviceName: SERVICE_NAME });
