// The object URLs of the Explorer view's maps (./widget.ts).
import { imageUrl } from "./codecs";
import type { MapEntry } from "./state";

/** Object URLs of the maps, by map key (a key's picture never changes within a generation),
 * freed with the generation. Each is decoded as soon as it is known, so that showing it later
 * paints in the next frame. */
export class UrlCache {
  private urls = new Map<string, { url: string; decoded: HTMLImageElement }>();

  get(key: string, picture: MapEntry): string {
    let entry = this.urls.get(key);
    if (!entry) {
      const url = imageUrl(picture.image, picture.mime) ?? "";
      const decoded = new Image();
      decoded.src = url;
      decoded.decode().catch(() => undefined); // a broken payload shows as broken, later
      entry = { url, decoded };
      this.urls.set(key, entry);
    }
    return entry.url;
  }

  clear(): void {
    for (const { url } of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}
