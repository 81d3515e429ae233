/**
 * Bearer-token check, the token's own rules, the bind-address guard, and the checks that keep
 * other web pages out: the request's `Origin` and, without a token, its `Host`.
 *
 * The token is compared in constant time: both sides are hashed to 32-byte SHA-256 digests first,
 * so `timingSafeEqual` always compares equal lengths and the comparison time says nothing about
 * how much of the token an attacker got right (nor about its length).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { FlowError } from '../../errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Builds a checker for `Authorization` header values; the expected digest is computed once. */
export function bearerTokenChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    if (typeof authorization !== 'string') return false;
    const match = /^Bearer +(.+)$/i.exec(authorization.trim());
    // Hash even a malformed header so a wrong scheme costs the same as a wrong token.
    const given = digest(match ? match[1] : authorization);
    return timingSafeEqual(given, expected) && match !== null;
  };
}

/** Shortest API token accepted: a token anyone can guess protects nothing. */
export const MIN_API_TOKEN_LENGTH = 16;

/**
 * Refuses a token that is too short or that cannot arrive intact in an `Authorization` header
 * (whitespace, control or non-ASCII characters: clients trim or reject them, so it would never
 * match). `undefined` and '' mean "no token" and pass. The token itself is never put in the message.
 */
export function assertValidApiToken(token: string | undefined): void {
  if (token === undefined || token === '') return;
  const fail = (problem: string): never => {
    throw new FlowError('INVALID_API_TOKEN', `The API token (FLOW_API_TOKEN or apiToken) ${problem}. Generate one with e.g. \`openssl rand -hex 32\`.`, {});
  };
  if (typeof token !== 'string') fail('must be a string');
  const bad = /[^\x21-\x7e]/.exec(token);
  if (bad) {
    const what = /\s/.test(bad[0]) ? 'whitespace' : 'a control or non-ASCII character';
    const where = bad.index === 0 ? 'at its start' : bad.index === token.length - 1 ? 'at its end' : `at position ${bad.index + 1}`;
    fail(`contains ${what} ${where}; only visible ASCII characters can be sent in an Authorization header`);
  }
  if (token.length < MIN_API_TOKEN_LENGTH) fail(`is ${token.length} characters long; it must have at least ${MIN_API_TOKEN_LENGTH}`);
}

/** True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1 (and their IPv4-mapped form). */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * Refuses to serve an unauthenticated API to the network: a non-loopback bind (0.0.0.0, a LAN
 * address, ::) needs a token, unless the caller opted out (e.g. behind an authenticating proxy).
 */
export function assertSafeBind(host: string, token: string | undefined, allowInsecureBind: boolean): void {
  if (token || allowInsecureBind || isLoopbackHost(host)) return;
  throw new FlowError(
    'INSECURE_BIND',
    `Refusing to listen on ${host} without an API token: anyone who can reach it could start, resume and cancel runs. ` +
      'Set FLOW_API_TOKEN (or apiToken), bind to 127.0.0.1, or pass allowInsecureBind: true (FLOW_ALLOW_INSECURE_BIND=1) if a proxy authenticates requests.',
  );
}

/** The host name of a `Host` header value (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased; null if malformed. */
export function hostNameOf(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0 || (end < h.length - 1 && !/^:\d{1,5}$/.test(h.slice(end + 1)))) return null;
    return h.slice(1, end);
  }
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1] : null;
}

/**
 * Without a token, the server answers only requests addressed to a loopback name: a page whose
 * own host name was pointed at 127.0.0.1 (DNS rebinding) sends its own name in `Host` and is refused.
 */
export function isLoopbackHostHeader(hostHeader: string | undefined): boolean {
  const name = hostNameOf(hostHeader);
  return name !== null && isLoopbackHost(name);
}

/**
 * Whether an `Origin` header names this server itself: the same host and port as the request's
 * `Host` (the scheme is not compared: a TLS-terminating proxy sees http for an https page).
 * `Origin: null` (sandboxed frames, file: pages) is never this server.
 */
export function isSameOrigin(origin: string, hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  let originHost: string;
  let requestHost: string;
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    originHost = url.host;
    requestHost = new URL(`${url.protocol}//${hostHeader.trim()}`).host;
  } catch {
    return false;
  }
  return originHost === requestHost;
}
