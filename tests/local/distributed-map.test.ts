import { describe, expect, it } from "vitest";
import { localDistributedMaps } from "../../local/distributed-map.ts";

const map = (extra: Record<string, unknown>) => ({
  StartAt: "Each",
  States: {
    Each: {
      Type: "Map",
      ItemsPath: "$.items",
      ItemProcessor: {
        ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
        StartAt: "Work",
        States: { Work: { Type: "Pass", End: true } },
      },
      End: true,
      ...extra,
    },
  },
});

describe("the local stand-in of a Distributed Map", () => {
  it("runs each item's processor inside a Parallel that catches its failure when every failure is tolerated", () => {
    const local = localDistributedMaps(map({ ToleratedFailurePercentage: 100 })) as ReturnType<typeof map>;
    const each = local.States.Each as Record<string, unknown>;
    const processor = each.ItemProcessor as {
      StartAt: string;
      States: Record<string, Record<string, unknown>>;
    };

    expect(each.ToleratedFailurePercentage).toBeUndefined();
    expect(processor.StartAt).toBe("LocalDistributedItem");
    expect(processor.States.LocalDistributedItem).toMatchObject({
      Type: "Parallel",
      OutputPath: "$[0]",
      Branches: [{ StartAt: "Work", States: { Work: { Type: "Pass", End: true } } }],
      Catch: [{ ErrorEquals: ["States.ALL"], Next: "LocalDistributedItemFailed" }],
    });
  });

  it("leaves a Map that tolerates no failure as written, and the definition it was given untouched", () => {
    const definition = map({});
    const local = localDistributedMaps(definition) as ReturnType<typeof map>;

    expect(local.States.Each.ItemProcessor.StartAt).toBe("Work");
    expect(definition).toEqual(map({}));
  });

  it.each([
    [{ ItemReader: { Resource: "arn:aws:states:::s3:getObject" } }, "ItemReader"],
    [{ ResultWriter: { Resource: "arn:aws:states:::s3:putObject" } }, "ResultWriter"],
    [{ ToleratedFailurePercentage: 10 }, "ToleratedFailurePercentage"],
    [{ ToleratedFailureCount: 3 }, "ToleratedFailureCount"],
  ])("refuses %j by name: nothing local would do it as AWS does", (extra, field) => {
    expect(() => localDistributedMaps(map(extra))).toThrow(new RegExp(`Map state Each: .*${field}`));
  });
});
