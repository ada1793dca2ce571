/**
 * Where moto 5.2 is not AWS, found by the differential suite: scenario name → why moto answers
 * otherwise. The in-memory AWS keeps AWS's rule in each case (see tests/local/aws/fidelity.test.ts).
 * A scenario listed here must still differ: one that agrees again fails the suite, so the list
 * stays true.
 */
export const MOTO_GAPS: Record<string, string> = {
  "the target account has no access role":
    "moto's AssumeRole answers for any role ARN, existing or not, and evaluates no trust policy; STS refuses with AccessDenied",
  "GetSecretValue of a missing secret":
    "moto answers ResourceNotFoundException with HTTP 404; Secrets Manager (JSON protocol) answers every client error 400",
  "a managed policy document of 6,145 characters":
    "moto does not enforce IAM's PolicySize quota (6,144 characters without whitespace)",
  "a trust policy of 2,049 characters": "moto does not enforce IAM's ACLSizePerRole quota (2,048 characters)",
  "a ClientRequestToken of 31 characters":
    "moto answers InvalidParameterException; Secrets Manager answers its length constraint with ValidationException (both permanent for the workflow)",
  "a ClientRequestToken of 65 characters":
    "moto answers InvalidParameterException; Secrets Manager answers its length constraint with ValidationException (both permanent for the workflow)",
  "a trust policy with an unknown condition operator":
    "moto validates managed policy documents but not a role's trust policy; IAM refuses an unknown condition operator with MalformedPolicyDocument",
  "AssumeRole without MFA of a role whose trust requires it":
    "moto's AssumeRole evaluates no trust policy, so no MFA condition; STS refuses with AccessDenied",
};

/** What of moto the suite does not use, and why. */
export const MOTO_UNUSED: Record<string, string> = {
  TestEventPattern:
    "moto 5.2.1 does not implement it (the answer has no Result); event-patterns.test.ts lets moto's EventBridge judge by delivery instead: PutRule with the packaged pattern, a CloudWatch Logs target, PutEvents",
};
