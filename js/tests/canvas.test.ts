import { describe, expect, it } from "vitest";
import {
  covered,
  perturbationText,
  rasterise,
  segmentDistance,
  similarityText,
  strokeMessage,
  toInput,
} from "../canvas";

describe("toInput", () => {
  it("maps a pointer on the displayed element to input pixels", () => {
    const box = { left: 100, top: 50, width: 224, height: 224 };
    expect(toInput(100, 50, box, 64, 64)).toEqual({ x: 0, y: 0 });
    expect(toInput(212, 162, box, 64, 64)).toEqual({ x: 32, y: 32 });
    expect(toInput(324, 274, box, 64, 32)).toEqual({ x: 64, y: 32 });
  });
});

describe("segmentDistance", () => {
  it("measures to the nearest point of the segment", () => {
    const a = { x: 0, y: 0 };
    const b = { x: 10, y: 0 };
    expect(segmentDistance({ x: 5, y: 3 }, a, b)).toBe(3);
    expect(segmentDistance({ x: -4, y: 3 }, a, b)).toBe(5);
    expect(segmentDistance({ x: 3, y: 4 }, a, a)).toBe(5);
  });
});

describe("rasterise", () => {
  it("paints a round dot: full inside, nothing far away", () => {
    const cover = rasterise([{ x: 8, y: 8 }], 2, 16, 16);
    expect(cover.length).toBe(256);
    expect(cover[7 * 16 + 7]).toBe(255);
    expect(cover[8 * 16 + 8]).toBe(255);
    expect(cover[0]).toBe(0);
    expect(cover[8 * 16 + 12]).toBe(0);
    // round, not square: the corner of the 4×4 box is further than the radius
    expect(cover[5 * 16 + 5]).toBeLessThan(255);
  });

  it("covers the whole path of a drag and stays in the image", () => {
    const cover = rasterise([{ x: 2, y: 4.5 }, { x: 14, y: 4.5 }], 1, 16, 8);
    for (let i = 2; i < 14; i++) expect(cover[4 * 16 + i]).toBe(255);
    expect(cover[0 * 16 + 8]).toBe(0);
    const outside = rasterise([{ x: -20, y: -20 }], 3, 16, 8);
    expect(covered(outside)).toBe(false);
    const edge = rasterise([{ x: -1, y: 4 }], 2, 16, 8);
    expect(covered(edge)).toBe(true);
  });

  it("is empty without points or radius", () => {
    expect(covered(rasterise([], 3, 4, 4))).toBe(false);
    expect(covered(rasterise([{ x: 1, y: 1 }], 0, 4, 4))).toBe(false);
  });
});

describe("strokeMessage", () => {
  it("carries the coverage at input size, or nothing off the image", () => {
    const stroke = strokeMessage([{ x: 3, y: 3 }], 2, "darken", 40, 8, 6);
    expect(stroke?.message).toEqual({ type: "stroke", mode: "darken", strength: 40, width: 8, height: 6 });
    expect(stroke?.buffer.byteLength).toBe(48);
    expect(strokeMessage([{ x: 50, y: 50 }], 2, "darken", 40, 8, 6)).toBeNull();
  });
});

describe("captions", () => {
  it("names the similarity metric and the perturbation scale", () => {
    expect(similarityText("SSIM", 0.4567)).toBe("SSIM vs clean = 0.46");
    expect(similarityText("SSIM", undefined)).toContain("computing");
    expect(perturbationText(0)).toBe("no perturbation");
    expect(perturbationText(8)).toContain("±8.0 of 255");
  });
});
