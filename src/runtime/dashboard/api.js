// The dashboard's only door to the server: the same REST API every client uses.
// The API token (when the server has one) lives in this browser's localStorage.

const TOKEN_KEY = 'hazel-flow.apiToken';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Calls the API; resolves with the parsed JSON or rejects with an ApiError carrying the server's code and message. */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK_ERROR', `The server cannot be reached (${err.message})`);
  }
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new CustomEvent('flow:unauthorized'));
    throw new ApiError(res.status, data?.error?.code ?? `HTTP_${res.status}`, data?.error?.message ?? res.statusText);
  }
  return data;
}

export const listRuns = (filter) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filter)) if (value) params.set(key, String(value));
  const query = params.toString();
  return api('GET', `/v1/runs${query ? `?${query}` : ''}`);
};
export const getRun = (runId) => api('GET', `/v1/runs/${encodeURIComponent(runId)}`);
// One page of the timeline: the events after `after` (a seq), at most `limit` → { events, nextCursor }.
export const getTimeline = (runId, { after = 0, limit = 1000 } = {}) =>
  api('GET', `/v1/runs/${encodeURIComponent(runId)}/timeline?after=${after}&limit=${limit}`);
export const listFlows = () => api('GET', '/v1/flows');
export const listSchedules = () => api('GET', '/v1/schedules');
// pause | resume → { schedule }; trigger → { runId }.
export const scheduleAction = (scheduleId, action) => api('POST', `/v1/schedules/${encodeURIComponent(scheduleId)}/${action}`, {});
export const getHealth = () => api('GET', '/health');
// `{ workers, unserved }`: every worker recorded in the store, and the runs due for flows no live worker serves.
export const listWorkers = () => api('GET', '/v1/workers');
export const startRun = (body) => api('POST', '/v1/runs/start', body);
// Every POST carries a JSON body (the server refuses bodyless ones): no payload is null.
// `nodeId` resumes only the branch waiting there (a run that waits at several nodes).
export const resumeRun = (runId, payload, nodeId) =>
  api('POST', `/v1/runs/${encodeURIComponent(runId)}/resume${nodeId ? `?nodeId=${encodeURIComponent(nodeId)}` : ''}`, payload === undefined ? null : payload);
export const cancelRun = (runId, reason) => api('POST', `/v1/runs/${encodeURIComponent(runId)}/cancel`, reason ? { reason } : {});
// An event for every run branch waiting for its name (and key): `{ eventId, delivered }`.
export const sendEvent = (name, key, payload) => {
  const body = { name };
  if (key) body.key = key;
  if (payload !== undefined) body.payload = payload;
  return api('POST', '/v1/events', body);
};
export const tickRun = (runId) => api('POST', `/v1/runs/${encodeURIComponent(runId)}/tick`, {});
// Versions in operation: retry → { run }; fork → { runId }; migrate → { migrated, blocked } (dryRun: nothing written).
export const retryRun = (runId, body = {}) => api('POST', `/v1/runs/${encodeURIComponent(runId)}/retry`, body);
export const forkRun = (runId, body) => api('POST', `/v1/runs/${encodeURIComponent(runId)}/fork`, body);
export const migrateRuns = (flowId, body) => api('POST', `/v1/flows/${encodeURIComponent(flowId)}/migrate`, body);
