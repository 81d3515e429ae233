/**
 * JSON text as the runtime accepts it, from request bodies and from the CLI's --input/--payload:
 * `JSON.parse`, plus a check that every number in the text is the number the sender wrote.
 *
 * JavaScript reads every JSON number as a 64-bit float, so `12345678901234567890` silently becomes
 * 12345678901234567000, `1e400` becomes Infinity (and then `null` when written back), and `1e-400`
 * becomes 0. Such values are refused with `InexactNumberError` instead of stored changed:
 * - integers written without a fraction or exponent must be safe integers (|n| ≤ 2^53 − 1);
 * - no number may overflow to ±Infinity, nor a nonzero one underflow to 0.
 * Numbers written with a fraction or an exponent are floats by intent and are otherwise kept as
 * JavaScript reads them.
 *
 * Keys named `__proto__` or `constructor` are kept as ordinary own keys (`JSON.parse` never
 * touches a prototype), as the engine keeps them.
 */
import { FlowError } from '../errors.js';

/** A number in JSON text that a JavaScript number cannot hold as written. Code INVALID_NUMBER. */
export class InexactNumberError extends FlowError {
  constructor(
    message: string,
    readonly literal: string,
  ) {
    super('INVALID_NUMBER', message, {});
  }
}

/** The text is not JSON. Code MALFORMED_JSON; the message is `JSON.parse`'s. */
export class MalformedJsonError extends FlowError {
  constructor(message: string) {
    super('MALFORMED_JSON', message, {});
  }
}

/** Parses JSON text, refusing numbers it cannot keep exactly (see the module comment). */
export function parseExactJson(text: string, what = 'JSON'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MalformedJsonError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  // Only text that parsed is scanned: outside strings, a token that starts with '-' or a digit is a number.
  const problem = firstInexactNumber(text);
  if (problem) throw new InexactNumberError(`${what}: ${problem.reason}`, problem.literal);
  return value;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isNumberChar = (c: number) => isDigit(c) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;

/** The first number literal of valid JSON `text` that a float cannot hold as written, or null. */
export function firstInexactNumber(text: string): { literal: string; reason: string } | null {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote (a backslash escapes the next character).
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else {
          i++;
          if (d === 0x22) break;
        }
      }
    } else if (c === 0x2d || isDigit(c)) {
      const start = i++;
      while (i < n && isNumberChar(text.charCodeAt(i))) i++;
      const reason = inexactReason(text.slice(start, i));
      if (reason) return { literal: text.slice(start, i), reason };
    } else i++;
  }
  return null;
}

function inexactReason(literal: string): string | null {
  const value = Number(literal);
  const shown = literal.length > 40 ? `${literal.slice(0, 37)}...` : literal;
  if (!Number.isFinite(value)) {
    return `number ${shown} is too large for a JSON number here (64-bit float, at most about 1.8e308)`;
  }
  const mantissa = literal.replace(/[eE].*$/, '');
  if (value === 0 && /[1-9]/.test(mantissa)) {
    return `number ${shown} is too small for a JSON number here (64-bit float): it would become 0`;
  }
  if (!/[.eE]/.test(literal) && !Number.isSafeInteger(value)) {
    return `integer ${shown} is beyond ±9007199254740991 (2^53 - 1) and would be rounded to ${value}; send it as a string`;
  }
  return null;
}
