import { describe, expect, it } from "vitest";
import { lookupMap, MAP_PREFIX, mapKeyOf, sentMaps } from "../mapstore";

const view = (...bytes: number[]) => new DataView(new Uint8Array(bytes).buffer);
const sent = (generation: number, ...bytes: number[]) =>
  ({ image: view(...bytes), mime: "image/png", scale: 1, convention: "signed_rgb", generation });
const getter = (state: Record<string, unknown>) => (attribute: string) => state[attribute];

describe("lookupMap", () => {
  it("serves a map from its own state key before the maps trait has it", () => {
    const state = { [`${MAP_PREFIX}output/3/saliency`]: sent(2, 7) };
    expect(lookupMap(getter(state), {}, "output/3/saliency", 2)?.image.getUint8(0)).toBe(7);
  });

  it("falls back to the maps trait (a page, a saved notebook, a reconnect)", () => {
    const synced = { a: { image: view(9), mime: "image/png", scale: 2, convention: "abs_grey" } };
    expect(lookupMap(getter({}), synced, "a", 0)?.image.getUint8(0)).toBe(9);
  });

  it("never serves a map of another generation, nor a removed one", () => {
    expect(lookupMap(getter({ [`${MAP_PREFIX}a`]: sent(1, 5) }), {}, "a", 2)).toBeUndefined();
    expect(lookupMap(getter({ [`${MAP_PREFIX}a`]: sent(2) }), {}, "a", 2)).toBeUndefined();
    expect(lookupMap(getter({ [`${MAP_PREFIX}a`]: null }), {}, "a", 2)).toBeUndefined();
  });
});

describe("sentMaps", () => {
  it("lists the maps of this generation among changed state keys, nothing else", () => {
    const changed = {
      [`${MAP_PREFIX}x/1/gbp`]: sent(4, 1),
      [`${MAP_PREFIX}x/2/gbp`]: sent(3, 1), // a former input
      [`${MAP_PREFIX}x/3/gbp`]: sent(4), // removed
      status: "idle",
    };
    expect(sentMaps(changed, 4).map(([key]) => key)).toEqual(["x/1/gbp"]);
  });

  it("names the map key of a state key", () => {
    expect(mapKeyOf(`${MAP_PREFIX}output/1/saliency`)).toBe("output/1/saliency");
    expect(mapKeyOf("maps")).toBeNull();
  });
});
