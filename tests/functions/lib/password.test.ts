import { describe, expect, it } from "vitest";
import { generatePassword } from "../../../functions/lib/password.ts";

const SYMBOLS = "!@#$%^&*()_+-=[]{}|'";
const ALLOWED = /^[A-Za-z0-9!@#$%^&*()_+\-=[\]{}|']+$/;

function hasEveryClass(password: string): boolean {
  return (
    /[A-Z]/.test(password) &&
    /[a-z]/.test(password) &&
    /[0-9]/.test(password) &&
    [...password].some((c) => SYMBOLS.includes(c))
  );
}

describe("generatePassword", () => {
  it("has a character of every class and only allowed characters, draw after draw", () => {
    // Act
    const passwords = Array.from({ length: 200 }, () =>
      generatePassword({ RequireSymbols: true, RequireNumbers: true, MinimumPasswordLength: 8 }),
    );

    // Assess
    expect(passwords.filter((p) => !hasEveryClass(p))).toEqual([]);
    expect(passwords.filter((p) => !ALLOWED.test(p))).toEqual([]);
  });

  it("never gives the same password twice in 200 draws", () => {
    // Act
    const passwords = new Set(Array.from({ length: 200 }, () => generatePassword()));

    // Assess
    expect(passwords.size).toBe(200);
  });

  it.each([
    [undefined, 32],
    [6, 32],
    [32, 32],
    [64, 64],
    [128, 128],
  ])("meets a minimum length of %s with %i characters", (minimum, length) => {
    // Act
    const password = generatePassword({ MinimumPasswordLength: minimum });

    // Assess
    expect(password).toHaveLength(length);
    expect(hasEveryClass(password)).toBe(true);
  });

  it("never exceeds IAM's 128 characters", () => {
    // Act
    const password = generatePassword({ MinimumPasswordLength: 500 });

    // Assess
    expect(password.length).toBe(128);
  });

  it("works without any policy", () => {
    // Act
    const password = generatePassword();

    // Assess
    expect(password.length).toBeGreaterThanOrEqual(8);
    expect(hasEveryClass(password)).toBe(true);
  });
});
