import { describe, expect, it } from "vitest";
import { attackText, cropText, hintText, layerNote, methodLabel } from "../notes";
import { OUTPUT } from "../state";

const classes = ["circle", "star", "arrow"];
const styles = {
  saliency: { label: "Saliency", colour: "#e6550d" },
  deconvnet: { label: "DeconvNet", colour: "#756bb1" },
  guided_backprop: { label: "Guided backprop", colour: "#31a354" },
};
const methods = ["saliency", "deconvnet", "guided_backprop"];

describe("the attack's outcome", () => {
  it("names an untargeted attack's change, its budget and its start", () => {
    const report = { method: "pgd", eps: 8, before: 2, after: 1, confidence_before: 0.83,
      confidence_after: 0.61, target: null, start: "clean" };
    expect(attackText(report, classes)).toBe(
      "PGD untargeted, ε 8/255: arrow (0.83) → star (0.61)");
    expect(attackText({ ...report, start: "painted" }, classes)).toContain(
      "from the painted image");
    expect(attackText({ ...report, after: 2 }, classes)).toContain("the prediction held");
  });
  it("says that a targeted attack was targeted, toward which class, and that it missed", () => {
    const report = { method: "fgsm", eps: 1, before: 2, after: 2, target: 0 };
    expect(attackText(report, classes)).toBe(
      "FGSM targeted toward circle, ε 1/255: arrow → arrow, missed: still not circle");
    expect(attackText({ ...report, after: 0 }, classes)).toBe(
      "FGSM targeted toward circle, ε 1/255: arrow → circle, reached");
  });
  it("says nothing without a report, and that a cancelled attack changed nothing", () => {
    expect(attackText({}, classes)).toBe("");
    expect(attackText({ cancelled: true }, classes)).toContain("attack cancelled");
  });
});

describe("the crop", () => {
  it("states the centre crop of a wide picture", () => {
    const crop = { width: 451, height: 300, box: [76, 0, 376, 300], cropped: true };
    expect(cropText(crop, [224, 224])).toBe(
      "centre crop: the model sees the middle 300×300 of the 451×300 picture (bright, " +
      "outlined), scaled to 224×224; the darkened parts are cut off");
  });
  it("states a scaling without a crop, and nothing for a picture of the input's size", () => {
    expect(cropText({ width: 32, height: 32, box: [0, 0, 32, 32], cropped: false }, [64, 64]))
      .toBe("the whole 32×32 picture, scaled to 64×64");
    expect(cropText({ width: 64, height: 64, box: [0, 0, 64, 64], cropped: false }, [64, 64]))
      .toBe("");
    expect(cropText({}, [64, 64])).toBe("");
  });
});

describe("layer notes", () => {
  it("explain flat layers first, then unnamed channels", () => {
    const notes = { conv1: "Every map at conv1 is flat" };
    expect(layerNote("conv1", notes, classes, 16)).toBe("Every map at conv1 is flat");
    expect(layerNote("conv2", notes, classes, 32)).toContain("32 channels, which have no names");
    expect(layerNote(OUTPUT, notes, classes, 3)).toBe("");
  });
  it("explain output units without class names", () => {
    expect(layerNote(OUTPUT, {}, ["0", "1", "2"], 3)).toContain("came without class names");
  });
});

describe("the paper's finding", () => {
  it("waits for the chart's numbers, then gives them", () => {
    expect(hintText(methods, {}, styles)).toContain(
      "Guided backprop and DeconvNet barely change with the class, Saliency does");
    expect(hintText(methods, {}, styles)).toContain("once the top classes' maps are computed");
    const measured = { saliency: 1.2, deconvnet: 0.041, guided_backprop: 0.043 };
    expect(hintText(methods, measured, styles)).toContain(
      "Here, class sensitivity: Guided backprop 0.04, DeconvNet 0.04, Saliency 1.20");
  });
  it("says nothing when the methods compared cannot show it", () => {
    expect(hintText(["saliency"], {}, styles)).toBe("");
    expect(hintText(["guided_backprop", "deconvnet"], {}, styles)).toBe("");
  });
  it("uses the labels of the buttons", () => {
    expect(methodLabel(styles, "guided_backprop")).toBe("Guided backprop");
    expect(methodLabel(styles, "other")).toBe("other");
  });
});
