/**
 * Bearer-token check and the bind-address guard.
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

/** True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1 (and their IPv4-mapped form). */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
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
