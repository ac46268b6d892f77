import { describe, expect, it } from "vitest";
import { DEFAULTS, type LensState, sharedScaleFilter } from "../state";
import { overlayStyle } from "../overlay";
import { completenessText, levelAt, levelPosition, levelText, TRAINED, weightsKey } from "../weights";

const state: LensState = {
  ...DEFAULTS,
  classes: ["circle", "square", "star"],
  weight_levels: [
    { name: TRAINED, label: "trained" },
    { name: "fc", label: "re-drawn: fc" },
    { name: "conv1", label: "all layers re-drawn" },
  ],
};

describe("weights control", () => {
  it("prefixes the keys of randomised levels only", () => {
    expect(weightsKey(TRAINED, "output/2/saliency")).toBe("output/2/saliency");
    expect(weightsKey("conv1", "output/2/saliency")).toBe("weights=conv1/output/2/saliency");
  });

  it("maps slider positions to levels and back, clamped", () => {
    expect(levelAt(state, 2)).toBe("conv1");
    expect(levelAt(state, 9)).toBe("conv1");
    expect(levelAt(state, -1)).toBe(TRAINED);
    expect(levelAt({ weight_levels: [] }, 0)).toBe(TRAINED);
    expect(levelPosition(state, "fc")).toBe(1);
    expect(levelPosition(state, "unknown")).toBe(0);
  });

  it("says the level and the randomised model's top class", () => {
    expect(levelText({ ...state, weights: TRAINED })).toBe("trained");
    expect(levelText({ ...state, weights: "fc" })).toBe("re-drawn: fc");
    expect(levelText({ ...state, weights: "conv1", weights_top: { conv1: [[1, 0.25]] } }))
      .toBe("all layers re-drawn · predicts square (p = 0.250)");
  });

  it("shows Integrated Gradients' completeness error where the state has one", () => {
    const withError = { completeness: { "output/2/integrated_gradients": { error: 0.0123, gain: 4.5 } } };
    expect(completenessText(withError, "output/2/integrated_gradients"))
      .toBe(" · completeness: Σ map − Δf = 0.0123 (Δf = 4.50)");
    expect(completenessText(withError, "output/2/saliency")).toBe("");
  });
});

describe("map conventions beyond the paper's three", () => {
  it("draws heat maps over the input at the chosen opacity, diverging maps over white", () => {
    const heat = overlayStyle("heatmap", "blob:input", 0.4);
    expect(heat.frame.backgroundImage).toBe('url("blob:input")');
    expect(heat.img.opacity).toBe("0.4");
    expect(overlayStyle("heatmap", "blob:input", 7).img.opacity).toBe("1");
    expect(overlayStyle("signed_channel", "blob:input", 0.4).frame.backgroundColor).toBe("#fff");
    expect(overlayStyle("signed_rgb", "blob:input", 0.4)).toEqual({
      frame: { backgroundImage: "", backgroundColor: "" }, img: { opacity: "", backgroundColor: "" },
    });
  });

  it("puts heat maps and diverging maps on a shared scale", () => {
    const entry = (convention: string, scale: number) =>
      ({ image: new DataView(new ArrayBuffer(1)), mime: "image/png", scale, convention });
    const heat = entry("heatmap", 1);
    expect(sharedScaleFilter(heat, [heat, entry("heatmap", 4)])).toBe("brightness(0.2500)");
    const diverging = entry("signed_channel", 1);
    expect(sharedScaleFilter(diverging, [diverging, entry("signed_channel", 2)])).toBe("opacity(0.5000)");
  });
});
