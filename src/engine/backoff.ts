import { MAX_RETRY_DELAY_MS, type RetryPolicy } from '../definitions/types.js';

/**
 * Delay before attempt `nextAttempt` (2 = the first retry). Fixed: always `baseDelayMs`.
 * Exponential: base, 2×base, 4×base … Both capped by `maxDelayMs`. Jitter draws the delay
 * from [delay/2, delay] so runs that failed together do not all retry at the same instant.
 */
export function retryDelayMs(policy: RetryPolicy, nextAttempt: number, random: () => number = Math.random): number {
  const retryIndex = Math.max(0, nextAttempt - 2);
  let delay = policy.backoff === 'exponential' ? policy.baseDelayMs * 2 ** retryIndex : policy.baseDelayMs;
  if (policy.maxDelayMs !== undefined) delay = Math.min(delay, policy.maxDelayMs);
  if (!Number.isFinite(delay) || delay > MAX_RETRY_DELAY_MS) delay = Math.min(policy.maxDelayMs ?? MAX_RETRY_DELAY_MS, MAX_RETRY_DELAY_MS);
  if (policy.jitter) delay = delay / 2 + random() * (delay / 2);
  return Math.round(delay);
}
