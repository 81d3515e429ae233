/**
 * LISTEN on a dedicated `pg` connection that survives restarts of the database: when the
 * connection fails it reconnects with exponential backoff (capped), and re-issues LISTEN.
 * Notifications sent while it was down are lost — workers poll, so that only delays them.
 */
import pg from 'pg';
import { quoteIdent } from './names.js';

export interface ListenerOptions {
  /** First retry delay (default 100 ms), doubled per failure up to `maxBackoffMs` (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onError?: (err: unknown) => void;
}

export async function listenWithReconnect(
  clientConfig: pg.ClientConfig,
  channel: string,
  onNotify: (payload: string) => void,
  options: ListenerOptions = {},
): Promise<() => Promise<void>> {
  const minBackoff = options.minBackoffMs ?? 100;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  let stopped = false;
  let client: pg.Client | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let failures = 0;

  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    const delay = Math.min(maxBackoff, minBackoff * 2 ** Math.min(failures, 20));
    failures += 1;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void connect().catch(() => scheduleReconnect());
    }, delay);
    retryTimer.unref();
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client(clientConfig);
    // Without an 'error' listener a dropped socket would crash the process.
    c.on('error', (err) => {
      options.onError?.(err);
      if (client === c) {
        client = null;
        void c.end().catch(() => undefined);
        scheduleReconnect();
      }
    });
    c.on('end', () => {
      if (client === c) {
        client = null;
        scheduleReconnect();
      }
    });
    c.on('notification', (msg) => {
      if (msg.channel === channel && msg.payload !== undefined) onNotify(msg.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (err) {
      options.onError?.(err);
      await c.end().catch(() => undefined);
      throw err;
    }
    if (stopped) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    failures = 0;
  };

  // The first attempt reports its failure to the caller's error hook and keeps retrying in the background.
  await connect().catch(() => scheduleReconnect());

  return async () => {
    stopped = true;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    const c = client;
    client = null;
    if (c) await c.end().catch(() => undefined);
  };
}
