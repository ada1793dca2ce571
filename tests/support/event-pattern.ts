/**
 * EventBridge event-pattern matching, enough for the rules of this service: exact values, arrays
 * as any-of (an array in the event matches when any element does), nested objects, `$or`, and the
 * `prefix`, `suffix`, `anything-but`, `exists` and `equals-ignore-case` operators. Any other
 * operator throws, so that a rule using one cannot pass a test by accident.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html
 */
export function matchesPattern(event: unknown, pattern: unknown): boolean {
  if (!isObject(pattern)) throw new Error("an event pattern is a JSON object");
  if (!isObject(event)) return false;
  return Object.entries(pattern).every(([key, expected]) => {
    if (key === "$or") {
      if (!Array.isArray(expected)) throw new Error("$or takes an array of patterns");
      return expected.some((alternative) => matchesPattern(event, alternative));
    }
    const actual = event[key];
    if (Array.isArray(expected)) return matchesLeaf(actual, expected);
    if (isObject(expected)) return matchesPattern(actual, expected);
    throw new Error(`pattern field ${key}: a value must be an array or an object`);
  });
}

function matchesLeaf(actual: unknown, matchers: unknown[]): boolean {
  const values = Array.isArray(actual) ? actual : [actual];
  return matchers.some((matcher) => {
    // `exists` is about the field, not its values: it is the only matcher a missing field can meet.
    if (isObject(matcher) && "exists" in matcher) return (actual !== undefined) === matcher.exists;
    return values.some((value) => value !== undefined && matchesValue(value, matcher));
  });
}

function matchesValue(value: unknown, matcher: unknown): boolean {
  if (!isObject(matcher)) return value === matcher;
  const [operator, ...more] = Object.keys(matcher);
  if (operator === undefined || more.length > 0) throw new Error("a matcher object has one operator");
  const argument = matcher[operator];
  switch (operator) {
    case "prefix":
      return typeof value === "string" && value.startsWith(String(argument));
    case "suffix":
      return typeof value === "string" && value.endsWith(String(argument));
    case "equals-ignore-case":
      return typeof value === "string" && value.toLowerCase() === String(argument).toLowerCase();
    case "anything-but": {
      if (isObject(argument)) return !matchesValue(value, argument);
      const excluded = Array.isArray(argument) ? argument : [argument];
      return !excluded.includes(value);
    }
    default:
      throw new Error(`operator ${operator} is not supported by this matcher`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);
