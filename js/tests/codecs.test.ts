import { describe, expect, it } from "vitest";
import { pngUrl } from "../codecs";

describe("pngUrl", () => {
  it("returns null for missing or empty payloads", () => {
    expect(pngUrl(null)).toBeNull();
    expect(pngUrl(undefined)).toBeNull();
    expect(pngUrl(new DataView(new ArrayBuffer(0)))).toBeNull();
  });

  it("wraps exactly the viewed bytes in a PNG blob", async () => {
    const buffer = new Uint8Array([9, 137, 80, 78, 71, 9]).buffer;
    const url = pngUrl(new DataView(buffer, 1, 4));
    expect(url).toMatch(/^blob:/);
    const blob = await (await fetch(url as string)).blob();
    expect(blob.type).toBe("image/png");
    expect([...new Uint8Array(await blob.arrayBuffer())]).toEqual([137, 80, 78, 71]);
    URL.revokeObjectURL(url as string);
  });
});
