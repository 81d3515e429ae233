// The run page's copy of the timeline, read a page at a time and never twice: the events from the
// start up to HEAD_LIMIT (then more on demand), and for a run longer than that its last TAIL_SIZE
// events, so the graph sees how the run began and how it ends. A live run's new events are read
// after the last one this page has (`after=<seq>`): following a run costs one small request a
// second, however long its timeline. A 40,000-item map (80,000 events, 14 MB) is 11 pages.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { getTimeline } from './api.js';

/** Events read from the start before the page stops reading on by itself. */
export const HEAD_LIMIT = 10_000;
/** Events kept from the end of a run longer than HEAD_LIMIT. */
export const TAIL_SIZE = 1_000;
const PAGE = 1_000;

const EMPTY = { head: [], tail: [] };
const lastOf = (events) => (events.length ? events[events.length - 1].seq : 0);

/** The next page to read to catch up with `lastSeq`, or null when there is none. */
function nextRequest(data, lastSeq, headWanted) {
  const headEnd = lastOf(data.head);
  // The head grows up to `headWanted` events, or to the tail, or to the end.
  const headStop = data.tail.length ? data.tail[0].seq - 1 : lastSeq;
  if (data.head.length < headWanted && headEnd < headStop) {
    return { part: 'head', after: headEnd, limit: Math.min(PAGE, headWanted - data.head.length, headStop - headEnd) };
  }
  const loadedEnd = Math.max(headEnd, lastOf(data.tail));
  if (loadedEnd >= lastSeq) return null;
  return { part: 'tail', after: Math.max(loadedEnd, lastSeq - TAIL_SIZE), limit: PAGE };
}

/** `data` with a page read for `request`: the head grown (and joined to the tail when it reaches it), or the tail moved on. */
function withPage(data, request, events) {
  if (request.part === 'head') {
    const head = data.head.concat(events);
    const end = lastOf(head);
    if (data.tail.length && end >= data.tail[0].seq - 1) return { head: head.concat(data.tail.filter((e) => e.seq > end)), tail: [] };
    return { head, tail: data.tail };
  }
  // A tail that no longer joins the new events (the run went on by more than a page) starts over.
  const tail = request.after > lastOf(data.tail) ? events : data.tail.concat(events);
  return { head: data.head, tail: tail.length > TAIL_SIZE ? tail.slice(tail.length - TAIL_SIZE) : tail };
}

/**
 * Reads the timeline of `runId` up to `lastSeq` (the run's, from its last poll).
 * @returns {{ head: object[], tail: object[], gap: { from: number, to: number } | null, loading: boolean, error: Error | null, loadMore: () => void }}
 */
export function useTimelineData(runId, lastSeq) {
  const [data, setData] = useState(EMPTY);
  const [status, setStatus] = useState({ loading: false, error: null });
  // What the reader works towards; the reader itself is one loop at a time.
  const target = useRef({ runId, lastSeq: 0, headWanted: HEAD_LIMIT });
  const current = useRef({ runId, data: EMPTY });
  const reading = useRef(false);

  const read = useCallback(async () => {
    if (reading.current) return;
    reading.current = true;
    setStatus({ loading: true, error: null });
    try {
      for (;;) {
        const { runId: id, lastSeq: end, headWanted } = target.current;
        if (current.current.runId !== id) current.current = { runId: id, data: EMPTY };
        const request = nextRequest(current.current.data, end, headWanted);
        if (!request) break;
        const page = await getTimeline(id, { after: request.after, limit: request.limit });
        if (current.current.runId !== target.current.runId) continue;
        current.current = { runId: id, data: withPage(current.current.data, request, page.events) };
        setData(current.current.data);
        if (page.events.length === 0) break;
      }
      setStatus({ loading: false, error: null });
    } catch (error) {
      setStatus({ loading: false, error });
      // A busy server (503) or a lost connection: try again shortly, polling or not.
      const id = target.current.runId;
      setTimeout(() => target.current.runId === id && read(), 2000);
    } finally {
      reading.current = false;
    }
  }, []);

  useEffect(() => {
    if (target.current.runId !== runId) {
      target.current = { runId, lastSeq: 0, headWanted: HEAD_LIMIT };
      current.current = { runId, data: EMPTY };
      setData(EMPTY);
    }
    if (typeof lastSeq !== 'number') return;
    target.current = { ...target.current, lastSeq };
    read();
  }, [runId, lastSeq]);

  const loadMore = useCallback(() => {
    target.current = { ...target.current, headWanted: current.current.data.head.length + PAGE };
    read();
  }, []);

  const { head, tail } = data;
  const gap = tail.length && lastOf(head) < tail[0].seq - 1 ? { from: lastOf(head) + 1, to: tail[0].seq - 1 } : null;
  return { head, tail, gap, loading: status.loading, error: status.error, loadMore };
}
