import { randomUUID } from "node:crypto";
import type { RegistrarQueue } from "./registrar-queue.ts";

/*
 * One registrar at a time: its state item holds a lease, renewed by every tick for the pause it
 * is about to take plus a margin. A hand-over starts a loop only when the lease is free or has
 * expired (its holder died); the conditional write decides between two starters.
 */

/** What a tick's pause may overrun by (a slow start, a slow invocation) before the lease is free. */
export const LEASE_MARGIN_MS = 120_000;

/** A registrar loop's execution name: unique, and sorted by when it started. */
export const registrarName = (now: number): string => `registrar-${now}-${randomUUID().slice(0, 8)}`;

/**
 * Starts a registrar loop unless one holds the lease. Answers the new loop's name, or undefined
 * when one runs already. A start that fails leaves the lease to expire: the next hand-over (or the
 * scheduled wake) tries again.
 */
export async function wakeRegistrar(
  queue: RegistrarQueue,
  start: (name: string) => Promise<void>,
  now: number,
): Promise<string | undefined> {
  const state = await queue.loadState();
  if (state.owner && (state.leaseUntil ?? 0) > now) return undefined;
  const name = registrarName(now);
  // Conditional on the lease being free or expired: the new name is nobody's yet.
  const taken = await queue.saveState(
    { ...state, owner: name, leaseUntil: now + LEASE_MARGIN_MS },
    { owner: name, now },
  );
  if (!taken) return undefined;
  await start(name);
  return name;
}
