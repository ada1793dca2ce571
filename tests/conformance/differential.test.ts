import { appendFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import { MOTO_GAPS } from "./gaps.ts";
import { MOTO_MISSING, resetMoto } from "./moto.ts";
import { normalized } from "./observe.ts";
import { SCENARIOS, type Scenario } from "./scenarios.ts";
import { inMemoryWorld, motoWorld, type World } from "./worlds.ts";

/*
 * Every scenario against both AWSes, asserting the same outcome: the same calls, the same error
 * names, the same end state. Where they differ the fake is fixed, or moto's gap is listed in
 * gaps.ts with the reason.
 */

const motoUrl = inject("motoUrl");
const tally = { inMemory: 0, moto: 0, agreed: 0, gaps: 0 };

async function outcome(scenario: Scenario, open: () => Promise<World>) {
  const world = await open();
  try {
    return normalized(await scenario.run(world), world);
  } finally {
    await world.close();
  }
}

function expectEnded(outcome: unknown, expected: Scenario["expected"]) {
  if ("answer" in expected) expect(outcome).toMatchObject({ answer: expected.answer });
  else expect(outcome).toMatchObject({ status: expected.status, error: expected.error ?? null });
  if ("published" in expected && expected.published) {
    expect((outcome as { published: unknown[] }).published).toEqual(
      expect.arrayContaining(expected.published),
    );
  }
}

describe.skipIf(!motoUrl)(`the in-memory AWS and moto agree${motoUrl ? "" : ` (${MOTO_MISSING})`}`, () => {
  afterAll(() => {
    const differ = tally.inMemory - tally.agreed;
    appendFileSync(
      inject("tallyFile"),
      `differential: ${tally.inMemory} scenarios run against the in-memory AWS, ${tally.moto} against moto; ${tally.agreed} agreed, ${differ} differed (${tally.gaps} of them documented moto gaps, tests/conformance/gaps.ts)\n`,
    );
  });

  it.each(SCENARIOS.map((s) => [s.name, s] as const))("%s", async (_, scenario) => {
    const fake = await outcome(scenario, inMemoryWorld);
    tally.inMemory += 1;
    await resetMoto(motoUrl);
    const moto = await outcome(scenario, () => motoWorld(motoUrl));
    tally.moto += 1;
    const agreed = isDeepStrictEqual(fake, moto);
    if (agreed) tally.agreed += 1;
    const gap = MOTO_GAPS[scenario.name];

    // The fake keeps AWS's rules: its outcome is the documented one.
    expectEnded(fake, scenario.expected);
    if (gap) {
      tally.gaps += 1;
      expect(agreed, `listed as a moto gap (${gap}) but the two agree: remove it from gaps.ts`).toBe(false);
    } else {
      expect(moto).toEqual(fake);
    }
  });
});
