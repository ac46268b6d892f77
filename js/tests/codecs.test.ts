import { describe, expect, it } from "vitest";
import { imageUrl } from "../codecs";

describe("imageUrl", () => {
  it("returns null for missing or empty payloads", () => {
    expect(imageUrl(null)).toBeNull();
    expect(imageUrl(undefined)).toBeNull();
    expect(imageUrl(new DataView(new ArrayBuffer(0)))).toBeNull();
  });

  it("wraps exactly the viewed bytes, as PNG unless told otherwise", async () => {
    const buffer = new Uint8Array([9, 137, 80, 78, 71, 9]).buffer;
    const url = imageUrl(new DataView(buffer, 1, 4));
    expect(url).toMatch(/^blob:/);
    const blob = await (await fetch(url as string)).blob();
    expect(blob.type).toBe("image/png");
    expect([...new Uint8Array(await blob.arrayBuffer())]).toEqual([137, 80, 78, 71]);
    URL.revokeObjectURL(url as string);
  });

  it("labels other encodings with their media type", async () => {
    const url = imageUrl(new DataView(new Uint8Array([1, 2]).buffer), "image/webp");
    expect((await (await fetch(url as string)).blob()).type).toBe("image/webp");
    URL.revokeObjectURL(url as string);
  });
});
