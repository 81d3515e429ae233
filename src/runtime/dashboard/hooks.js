// Live data by polling: simple, works through every proxy, and the API is cheap to read.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/**
 * Calls `load` now and then every `intervalMs` (after the previous call settles, so slow
 * responses never pile up); pauses while the tab is hidden. `intervalMs` null = load once.
 * Returns { data, error, loading, refresh }.
 */
export function usePolling(load, intervalMs, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const generation = useRef(0);
  const timer = useRef(null);

  const run = useCallback(async () => {
    const mine = ++generation.current;
    clearTimeout(timer.current);
    try {
      const data = await load();
      if (mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === generation.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
    if (mine === generation.current && intervalMs) {
      timer.current = setTimeout(() => (document.hidden ? waitVisible(run) : run()), intervalMs);
    }
  }, [...deps, intervalMs]);

  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    run();
    return () => {
      generation.current++;
      clearTimeout(timer.current);
    };
  }, [run]);

  return { ...state, refresh: run };
}

function waitVisible(fn) {
  const onVisible = () => {
    if (document.hidden) return;
    document.removeEventListener('visibilitychange', onVisible);
    fn();
  };
  document.addEventListener('visibilitychange', onVisible);
}
