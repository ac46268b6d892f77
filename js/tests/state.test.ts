import { describe, expect, it } from "vitest";
import {
  layerAt,
  layerPosition,
  mapKey,
  type MapEntry,
  methodName,
  OUTPUT,
  sharedScaleFilter,
  targetAt,
  targetLabel,
  targetPosition,
} from "../state";

const state = {
  classes: ["circle", "square", "star"],
  layers: [
    { name: OUTPUT, label: "output · 3 classes" },
    { name: "conv2", label: "conv2 · 8×16×16" },
  ],
  targets: {
    [OUTPUT]: [
      [2, 0.7],
      [0, 0.2],
      [1, 0.1],
    ] as [number, number][],
    conv2: [
      [5, 12.5],
      [1, 3.25],
    ] as [number, number][],
  },
};

const image = new DataView(new ArrayBuffer(1));
const entry = (scale: number, convention: string): MapEntry => ({
  image,
  mime: "image/png",
  scale,
  convention,
});

describe("keys and names", () => {
  it("builds the map key the kernel uses", () => {
    expect(mapKey("features.3", 7, "deconvnet")).toBe("features.3/7/deconvnet");
  });
  it("names known methods and passes others through", () => {
    expect(methodName("guided_backprop")).toBe("Guided backprop");
    expect(methodName("smoothgrad")).toBe("SmoothGrad");
    expect(methodName("my_method")).toBe("my_method");
  });
});

describe("sliders", () => {
  it("place the target by rank, best first", () => {
    expect(targetPosition(state, OUTPUT, 2)).toBe(0);
    expect(targetPosition(state, OUTPUT, 1)).toBe(2);
    expect(targetPosition(state, OUTPUT, 99)).toBe(0);
    expect(targetAt(state, OUTPUT, 1)).toBe(0);
    expect(targetAt(state, OUTPUT, 10)).toBe(1); // clamped to the last
  });
  it("label classes with probability and channels with activation", () => {
    expect(targetLabel(state, OUTPUT, 0)).toBe("circle · p = 0.200");
    expect(targetLabel(state, "conv2", 1)).toBe("channel 1 of 2 (unnamed) · activation 3.25");
  });
  it("start a new layer at its best target", () => {
    expect(layerAt(state, 1)).toEqual({ layer: "conv2", target: 5 });
    expect(layerAt(state, 0)).toEqual({ layer: OUTPUT, target: 2 });
    expect(layerAt(state, -4)).toEqual({ layer: OUTPUT, target: 2 });
    expect(layerPosition(state, "conv2")).toBe(1);
    expect(layerPosition(state, "gone")).toBe(0);
  });
});

describe("shared scale", () => {
  it("dims a signed map by contrast against the largest scale of its convention", () => {
    const own = entry(1, "signed_rgb");
    const peers = [own, entry(4, "signed_rgb"), entry(100, "abs_grey")];
    expect(sharedScaleFilter(own, peers)).toBe("contrast(0.2500)");
  });
  it("dims an absolute map by brightness", () => {
    const own = entry(2, "abs_grey");
    expect(sharedScaleFilter(own, [own, entry(8, "abs_grey")])).toBe("brightness(0.2500)");
  });
  it("leaves the map with the largest scale as it is", () => {
    const own = entry(4, "signed_rgb");
    expect(sharedScaleFilter(own, [own, entry(1, "signed_rgb")])).toBe("none");
  });
});
