// Where the view finds a map. The kernel sends each new map once, as its own key of the model's
// state ("map:<layer>/<target>/<method>", see backprop_lens/widget/maps.py); the whole `maps`
// trait holds the maps the model was created with (a page, a saved notebook, a reconnect). A view
// looks in both, the map's own key first.
import type { MapEntry } from "./state";

export const MAP_PREFIX = "map:";

/** A map as its own state key carries it: an empty picture means "removed". */
export interface SentMap extends MapEntry {
  generation: number;
}

/** The map key of a state key, or null when it carries no map. */
export function mapKeyOf(attribute: string): string | null {
  return attribute.startsWith(MAP_PREFIX) ? attribute.slice(MAP_PREFIX.length) : null;
}

function isSent(value: unknown): value is SentMap {
  const entry = value as SentMap | null | undefined;
  return !!entry && typeof entry === "object" && typeof entry.generation === "number" &&
    !!entry.image && typeof entry.image.byteLength === "number";
}

/** The map `key` of `generation`: its own state key when that holds one of this generation,
 * else the `maps` trait's. */
export function lookupMap(
  get: (attribute: string) => unknown,
  synced: Record<string, MapEntry>,
  key: string,
  generation: number,
): MapEntry | undefined {
  const own = get(MAP_PREFIX + key);
  if (isSent(own) && own.generation === generation && own.image.byteLength > 0) return own;
  return synced[key];
}

/** The maps of `generation` among changed state keys (to decode ahead of showing them). */
export function sentMaps(
  changed: Record<string, unknown>,
  generation: number,
): [string, MapEntry][] {
  const found: [string, MapEntry][] = [];
  for (const [attribute, value] of Object.entries(changed)) {
    const key = mapKeyOf(attribute);
    if (key !== null && isSent(value) && value.generation === generation &&
      value.image.byteLength > 0) {
      found.push([key, value]);
    }
  }
  return found;
}
