import { SFNClient } from "@aws-sdk/client-sfn";
import { tracer } from "./tracing.ts";

/*
 * What a trigger (the vending starter, the HTTP handlers) gets from the container it runs in:
 * its one Step Functions client and its settings, both made once.
 */

let sfn: SFNClient | undefined;

/** The container's Step Functions client, traced (outside Lambda the tracer hands it back as is). */
export const sfnClient = (): SFNClient => {
  sfn ??= tracer.captureAWSv3Client(new SFNClient({}));
  return sfn;
};

/**
 * Loads a trigger's dependencies on its first invocation and keeps them for the container's life.
 * A bad setting throws ConfigurationError naming it, and is read again on the next invocation: every
 * invocation fails loudly until it is fixed. Reading on the first call rather than at import lets
 * the failure reach the handler's logs and metrics, and tests build handlers of other settings.
 */
export function atColdStart<D>(load: () => D): () => D {
  let loaded: { deps: D } | undefined;
  return () => {
    loaded ??= { deps: load() };
    return loaded.deps;
  };
}
