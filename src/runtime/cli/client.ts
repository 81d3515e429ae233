/**
 * The CLI's HTTP client for a running server (`hazel-flow serve` or `npm start`). The run
 * commands go through the API rather than the database because the embedded PGlite store can
 * be opened by one process only — the server — and because the API applies the same checks for
 * every client.
 *
 * Every request has a deadline (`timeoutMs`, default 30 s): a server that accepts the connection
 * and never answers is an error, not a hang. Credentials in the URL (`http://user:pass@host`)
 * are sent as HTTP Basic auth and never printed: messages name the server without them.
 */
import { FlowError } from '../../errors.js';
import { UsageError } from './usage.js';

export interface ClientOptions {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  token?: string;
  /** Deadline of each request, from sending it to the end of the answer (default {@link DEFAULT_REQUEST_TIMEOUT_MS}). */
  timeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** `url` with any password replaced by `***`, for messages about a URL that may not even parse. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^/?#@]*?:)[^/?#]*@/, '$1***@');
}

export class ApiClient {
  private readonly base: string;
  /** The base URL without credentials: what messages show. */
  readonly displayUrl: string;
  private readonly authorization?: string;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new UsageError(`--url must be an http(s) URL, got ${JSON.stringify(redactUrl(options.url))}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--url must be http(s), got ${parsed.protocol}`);
    const user = decodeUserinfo(parsed.username);
    const password = decodeUserinfo(parsed.password);
    parsed.username = '';
    parsed.password = '';
    this.base = parsed.href.replace(/\/$/, '');
    this.displayUrl = this.base;
    if (user || password) {
      if (options.token) throw new UsageError('Give either credentials in --url (HTTP Basic) or an API token (--token / FLOW_API_TOKEN), not both');
      this.authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
    } else if (options.token) {
      this.authorization = `Bearer ${options.token}`;
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.authorization) headers.authorization = this.authorization;
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(this.timeoutMs) };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.base}${path}`, init);
      text = await res.text();
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        throw new FlowError(
          'REQUEST_TIMEOUT',
          `The flow server at ${this.displayUrl} did not answer within ${formatSeconds(this.timeoutMs)} (--timeout <seconds> to wait longer)`,
          {},
        );
      }
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? redactUrl((err as Error).message);
      throw new FlowError(
        'SERVER_UNREACHABLE',
        `Cannot reach the flow server at ${this.displayUrl} (${reason}). Start it with \`hazel-flow serve\` or \`npm start\`, or pass --url.`,
        {},
      );
    }
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
      throw new FlowError(error?.code ?? `HTTP_${res.status}`, `${error?.message ?? res.statusText} (HTTP ${res.status})`, {});
    }
    return data as T;
  }
}

function decodeUserinfo(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

export const runPath = (runId: string, suffix = '') => `/v1/runs/${encodeURIComponent(runId)}${suffix}`;
