/*
 * Step Functions' Distributed Map, locally. aws-local-stepfunctions runs a Map's ItemProcessor
 * for every item with the Map's MaxConcurrency (or MaxConcurrencyPath), but as an inline Map: it
 * has no child executions, ignores ProcessorConfig, and fails the whole Map on the first item that
 * fails, whatever ToleratedFailurePercentage says. This stand-in rewrites each DISTRIBUTED Map of a
 * definition before it runs so that the real definition still runs here:
 *
 * - ToleratedFailurePercentage 100: each item's processor runs inside a one-branch Parallel that
 *   catches any failure, so the item's result is its error ({Error, Cause}) as the Map reports a
 *   failed child's, and the other items go on;
 * - a tolerance of 0 (or none): as written, the first failure fails the Map, as in AWS;
 * - what needs S3 or a partial tolerance (ItemReader, ResultWriter, ItemBatcher,
 *   ToleratedFailureCount, a percentage between 0 and 100) is refused by name: nothing here would
 *   do it as AWS does.
 *
 * What stays different: an item runs in the parent's execution context ($$.Execution is the
 * parent's, as in an inline Map; in AWS each child is an execution of its own), so an
 * ItemProcessor should take what it needs of the parent through ItemSelector, as it must in AWS.
 */

type States = Record<string, Record<string, unknown>>;

const REFUSED = [
  "ItemReader",
  "ResultWriter",
  "ItemBatcher",
  "ToleratedFailureCount",
  "ToleratedFailureCountPath",
];

/** The definition with each DISTRIBUTED Map made runnable here (nested ones too); a copy. */
export function localDistributedMaps<D>(definition: D): D {
  const copy = structuredClone(definition) as D & { States: States };
  rewrite(copy.States);
  return copy;
}

function rewrite(states: States): void {
  for (const [name, state] of Object.entries(states)) {
    for (const nested of [state.ItemProcessor, state.Iterator, ...((state.Branches as unknown[]) ?? [])]) {
      const inner = (nested as { States?: States } | undefined)?.States;
      if (inner) rewrite(inner);
    }
    const processor = state.ItemProcessor as { ProcessorConfig?: { Mode?: string } } | undefined;
    if (state.Type !== "Map" || processor?.ProcessorConfig?.Mode !== "DISTRIBUTED") continue;
    for (const field of REFUSED) {
      if (state[field] !== undefined) {
        throw new Error(
          `Map state ${name}: ${field} of a Distributed Map is not supported by the local runner`,
        );
      }
    }
    const tolerance = state.ToleratedFailurePercentage;
    if (
      state.ToleratedFailurePercentagePath !== undefined ||
      (tolerance !== undefined && tolerance !== 0 && tolerance !== 100)
    ) {
      throw new Error(`Map state ${name}: only a ToleratedFailurePercentage of 0 or 100 runs locally`);
    }
    delete state.ToleratedFailurePercentage;
    if (tolerance !== 100) continue;
    const { ProcessorConfig: _config, ...branch } = processor as Record<string, unknown>;
    state.ItemProcessor = {
      StartAt: "LocalDistributedItem",
      States: {
        LocalDistributedItem: {
          Type: "Parallel",
          Branches: [branch],
          // A Parallel's result is the list of its branches' results: this one's only.
          OutputPath: "$[0]",
          // A failed child is the Map's item result: its error and cause.
          Catch: [{ ErrorEquals: ["States.ALL"], Next: "LocalDistributedItemFailed" }],
          End: true,
        },
        LocalDistributedItemFailed: { Type: "Pass", End: true },
      },
    };
  }
}
