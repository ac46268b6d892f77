import { describe, expect, it } from "vitest";
import { isMapsMessage, MapStore } from "../mapstore";

const view = (byte: number) => new DataView(new Uint8Array([byte]).buffer);
const message = (generation: number, keys: string[], remove: string[] = []) => ({
  type: "maps" as const,
  generation,
  add: keys.map((key) => ({ key, mime: "image/png", scale: 1, convention: "signed_rgb" })),
  remove,
});

describe("MapStore", () => {
  it("serves maps from messages before the synced trait has them", () => {
    const store = new MapStore();
    store.reset(3);
    expect(store.apply(message(3, ["a", "b"]), [view(1), view(2)], 3)).toBe(true);
    expect(store.lookup({}, "b")?.image.getUint8(0)).toBe(2);
  });

  it("prefers its own newer entry, then falls back to the synced trait", () => {
    const store = new MapStore();
    store.reset(0);
    const synced = { a: { image: view(9), mime: "image/png", scale: 2, convention: "abs_grey" } };
    expect(store.lookup(synced, "a")?.image.getUint8(0)).toBe(9);
    store.apply(message(0, ["a"]), [view(5)], 0);
    expect(store.lookup(synced, "a")?.image.getUint8(0)).toBe(5);
  });

  it("drops messages of another generation or with missing buffers", () => {
    const store = new MapStore();
    store.reset(2);
    expect(store.apply(message(1, ["old"]), [view(1)], 2)).toBe(false);
    expect(store.apply(message(2, ["a", "b"]), [view(1)], 2)).toBe(false);
    expect(store.lookup({}, "old")).toBeUndefined();
  });

  it("forgets evicted maps and everything on reset", () => {
    const store = new MapStore();
    store.reset(0);
    store.apply(message(0, ["a", "b"]), [view(1), view(2)], 0);
    store.apply(message(0, [], ["a"]), [], 0);
    expect(store.lookup({}, "a")).toBeUndefined();
    store.reset(0);
    expect(store.lookup({}, "b")).toBeUndefined();
  });

  it("recognises only well-formed maps messages", () => {
    expect(isMapsMessage(message(0, ["a"]))).toBe(true);
    expect(isMapsMessage({ type: "maps", generation: "0", add: [], remove: [] })).toBe(false);
    expect(isMapsMessage(null)).toBe(false);
    expect(isMapsMessage("maps")).toBe(false);
  });
});
