/**
 * The CLI's HTTP client for a running server (`hazel-flow serve` or `npm start`). The run
 * commands go through the API rather than the database because the embedded PGlite store can
 * be opened by one process only — the server — and because the API applies the same checks for
 * every client.
 */
import { FlowError } from '../../errors.js';

export interface ClientOptions {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  token?: string;
}

export class ApiClient {
  private readonly base: string;

  constructor(private readonly options: ClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new FlowError('INVALID_ARGUMENT', `--url must be an http(s) URL, got ${JSON.stringify(options.url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new FlowError('INVALID_ARGUMENT', `--url must be http(s), got ${parsed.protocol}`);
    this.base = parsed.href.replace(/\/$/, '');
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, init);
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new FlowError('SERVER_UNREACHABLE', `Cannot reach the flow server at ${this.base} (${reason}). Start it with \`hazel-flow serve\` or \`npm start\`, or pass --url.`);
    }
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
      throw new FlowError(error?.code ?? `HTTP_${res.status}`, `${error?.message ?? res.statusText} (HTTP ${res.status})`);
    }
    return data as T;
  }
}

export const runPath = (runId: string, suffix = '') => `/v1/runs/${encodeURIComponent(runId)}${suffix}`;
