import { describe, expect, it } from "vitest";
import { barOf, heldPairs, initialKernel, offered, targetOfBar } from "../kernelless";
import type { LensState, MapEntry } from "../state";

const entry = {} as MapEntry;
const maps: Record<string, MapEntry> = {
  "output/7/saliency": entry, "output/2/saliency": entry, "conv/4/saliency": entry,
};
const state = (layer = "output", target = 7): Pick<LensState,
  "methods" | "targets" | "layers" | "layer" | "target"> => ({
  layer,
  target,
  methods: ["saliency", "deconvnet"],
  targets: {
    output: [[7, 0.5], [2, 0.2], [501, 0.1], [9, 0.05]],
    conv: [[4, 3], [1, 2]],
    relu: [[0, 1]],
  },
  layers: [{ name: "conv", label: "conv" }, { name: "relu", label: "relu" },
    { name: "output", label: "output" }],
});

describe("offered", () => {
  it("offers only the targets and layers the page holds maps of", () => {
    const seen = offered(state(), heldPairs(state(), (key) => key in maps));
    expect(seen.targets.output.map(([i]) => i)).toEqual([7, 2]);
    expect(seen.targets.conv.map(([i]) => i)).toEqual([4]);
    expect(seen.layers.map((l) => l.name)).toEqual(["conv", "output"]);
  });

  it("keeps the current choice, so that the view can say it is not in the page", () => {
    const seen = offered(state("relu", 0), heldPairs(state(), (key) => key in maps));
    expect(seen.targets.relu).toEqual([[0, 1]]);
    expect(seen.layers.map((l) => l.name)).toEqual(["conv", "relu", "output"]);
  });
});

describe("the probability bars without a kernel", () => {
  it("highlights the bar of the target, none at an inner layer or beyond the bars", () => {
    expect(barOf(state("output", 2), 10)).toBe(1);
    expect(barOf(state("output", 9), 3)).toBeNull();
    expect(barOf(state("conv", 4), 10)).toBeNull();
  });

  it("turns a clicked bar into its class", () => {
    expect(targetOfBar(state(), 2)).toBe(501);
    expect(targetOfBar(state(), 40)).toBeNull();
  });

  it("a page knows there is no kernel from its first frame", () => {
    expect(initialKernel(true)).toBe("absent");
    expect(initialKernel(false)).toBe("unknown");
  });
});
