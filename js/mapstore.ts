// Maps that arrived as binary messages since the `maps` trait was last synced whole.
// The kernel sends each new map at once (type "maps"), and the whole `maps` trait when its
// worker goes idle; a view looks in both, newest first.
import type { MapEntry } from "./state";

export interface MapsMessage {
  type: "maps";
  generation: number;
  add: { key: string; mime: string; scale: number; convention: string }[];
  remove: string[];
}

export function isMapsMessage(content: unknown): content is MapsMessage {
  const message = content as MapsMessage;
  return (
    typeof content === "object" &&
    content !== null &&
    message.type === "maps" &&
    typeof message.generation === "number" &&
    Array.isArray(message.add) &&
    Array.isArray(message.remove)
  );
}

export class MapStore {
  private recent = new Map<string, MapEntry>();
  private generation = -1;

  /** Take in a message; false when it belongs to another generation or does not fit. */
  apply(message: MapsMessage, buffers: readonly DataView[], generation: number): boolean {
    if (message.generation !== generation || buffers.length !== message.add.length) return false;
    if (generation !== this.generation) this.reset(generation);
    message.add.forEach((item, i) => {
      const { mime, scale, convention } = item;
      this.recent.set(item.key, { image: buffers[i], mime, scale, convention });
    });
    for (const key of message.remove) this.recent.delete(key);
    return true;
  }

  /** Forget what the synced trait now holds (or everything, for a new generation). */
  reset(generation: number): void {
    this.recent.clear();
    this.generation = generation;
  }

  lookup(synced: Record<string, MapEntry>, key: string): MapEntry | undefined {
    return this.recent.get(key) ?? synced[key];
  }
}
