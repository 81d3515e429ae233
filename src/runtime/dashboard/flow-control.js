// Flow control as a person reads it: why a run that has not begun is not moving (its later start,
// a debounce, a rate limit's window, a concurrency limit whose key is full), and a flow's limits.
import { formatTime } from './format.js';

/** Below this, a due run that has not begun is just being picked up. */
const HELD_AFTER_MS = 1000;

/** Why run `run` (a run DTO) is not moving, or null: one sentence, or null when nothing holds it back. */
export function heldReason(run, now = Date.now()) {
  if (run.status !== 'RUNNING' || run.attempt !== 0) return null;
  const fc = run.flowControl;
  const due = run.nextAttemptAt ? Date.parse(run.nextAttemptAt) : null;
  if (due !== null && due > now) {
    const at = formatTime(run.nextAttemptAt);
    if (fc?.rateLimit?.heldUntil && Date.parse(fc.rateLimit.heldUntil) === due) {
      return `Rate-limited until ${at} (${fc.rateLimit.limit} per ${fc.rateLimit.periodMs} ms for key ${JSON.stringify(fc.rateLimit.key)})`;
    }
    if (fc?.debounce) return `Debounced until ${at} (key ${JSON.stringify(fc.debounce.key)})`;
    return `Starts at ${at}`;
  }
  const dueSince = due ?? Date.parse(run.updatedAt);
  if (!fc || fc.concurrency.length === 0 || now - dueSince < HELD_AFTER_MS) return null;
  const limits = fc.concurrency.map((c) => `${c.limit} ${c.scope} for key ${JSON.stringify(c.key)}`).join(', ');
  return `Due, waiting for a slot: at its concurrency limit (${limits})`;
}

/** A flow's limits (a flow DTO's `flowControl`), one line, or null. */
export function limitsLine(fc) {
  if (!fc) return null;
  const parts = fc.concurrency.map((c) => `concurrency ${c.limit} ${c.scope}${c.keyed ? ' per key' : ''}`);
  if (fc.rateLimit) parts.push(`rate ${fc.rateLimit.limit} per ${fc.rateLimit.periodMs} ms${fc.rateLimit.keyed ? ' per key' : ''}`);
  if (fc.debounce) parts.push(`debounce ${fc.debounce.delayMs} ms${fc.debounce.maxWaitMs === null ? '' : ` (at most ${fc.debounce.maxWaitMs} ms)`}`);
  return parts.join(' · ');
}
