/**
 * The Condition block of a trust policy, evaluated for an AssumeRole request as STS does for the
 * keys a trust policy can test here: MFA (aws:MultiFactorAuthPresent, aws:MultiFactorAuthAge) and
 * sts:ExternalId. A key the request does not carry is absent; an operator this fake cannot
 * evaluate denies, so that no trust is ever granted by accident.
 */
export type RequestContext = Record<string, string | undefined>;

/** What an AssumeRole request tells about itself; `temporary` callers sign with a session. */
export function assumeRoleContext(
  request: {
    SerialNumber?: string | undefined;
    TokenCode?: string | undefined;
    ExternalId?: string | undefined;
  },
  temporary: boolean,
): RequestContext {
  const mfa = request.SerialNumber !== undefined && request.TokenCode !== undefined;
  return {
    // Long-term keys without MFA carry no MFA key at all; a session without MFA carries "false".
    "aws:multifactorauthpresent": mfa ? "true" : temporary ? "false" : undefined,
    "aws:multifactorauthage": mfa ? "0" : undefined,
    "sts:externalid": request.ExternalId,
  };
}

const TESTS: Record<string, (actual: string, wanted: string) => boolean> = {
  bool: (actual, wanted) => actual === wanted.toLowerCase(),
  stringequals: (actual, wanted) => actual === wanted,
  stringnotequals: (actual, wanted) => actual !== wanted,
  stringequalsignorecase: (actual, wanted) => actual.toLowerCase() === wanted.toLowerCase(),
  numericequals: (actual, wanted) => Number(actual) === Number(wanted),
  numericlessthan: (actual, wanted) => Number(actual) < Number(wanted),
  numericlessthanequals: (actual, wanted) => Number(actual) <= Number(wanted),
  numericgreaterthan: (actual, wanted) => Number(actual) > Number(wanted),
  numericgreaterthanequals: (actual, wanted) => Number(actual) >= Number(wanted),
};

const asList = (value: unknown): string[] => (Array.isArray(value) ? value : [value]).map(String);

/** Whether one operator's tests all hold (each key: any of its values). */
function holds(operator: string, tests: Record<string, unknown>, context: RequestContext): boolean {
  const name = operator.toLowerCase();
  const ifExists = name.endsWith("ifexists");
  const base = ifExists ? name.slice(0, -"ifexists".length) : name;
  return Object.entries(tests).every(([conditionKey, wanted]) => {
    const actual = context[conditionKey.toLowerCase()];
    if (base === "null") return asList(wanted).some((w) => (actual === undefined) === (w === "true"));
    if (actual === undefined) return ifExists;
    const test = TESTS[base];
    return test !== undefined && asList(wanted).some((w) => test(actual, w));
  });
}

export function conditionHolds(condition: unknown, context: RequestContext): boolean {
  if (condition === undefined) return true;
  if (condition === null || typeof condition !== "object") return false;
  return Object.entries(condition).every(
    ([operator, tests]) =>
      tests !== null &&
      typeof tests === "object" &&
      holds(operator, tests as Record<string, unknown>, context),
  );
}
