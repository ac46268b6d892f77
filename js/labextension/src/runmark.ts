/**
 * "Run this notebook when it opens": a one-shot mark in the browser's localStorage, set by the
 * page that created the notebook and taken by the page that opens it. In JupyterLab both are
 * the same page; Notebook 7 opens a notebook in a new browser tab, which shares localStorage.
 *
 * A mark, and not a flag in the notebook's metadata, because a notebook file someone else wrote
 * must never run itself when opened: only this origin's own pages can set a mark.
 */

const PREFIX = 'backprop-lens:run-on-open:';
/** A mark older than this is stale (say the tab never opened): dropped, never obeyed. */
export const RUN_MARK_TTL_MS = 5 * 60 * 1000;

export function markRunOnOpen(path: string, storage: Storage = window.localStorage): void {
  storage.setItem(PREFIX + path, String(Date.now()));
}

/** Whether `path` has a mark (fresh or stale); the mark stays. */
export function hasRunMark(path: string, storage: Storage = window.localStorage): boolean {
  return storage.getItem(PREFIX + path) !== null;
}

/** Whether `path` was marked in the last `RUN_MARK_TTL_MS`; the mark is removed either way. */
export function takeRunMark(path: string, storage: Storage = window.localStorage): boolean {
  const key = PREFIX + path;
  const stamp = storage.getItem(key);
  if (stamp === null) {
    return false;
  }
  storage.removeItem(key);
  const age = Date.now() - Number(stamp);
  return age >= 0 && age < RUN_MARK_TTL_MS;
}
