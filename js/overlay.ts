// Maps shown over the input picture: the "heatmap" convention (Grad-CAM, see
// backprop_lens/render.py) is drawn at an opacity (the `overlay_opacity` trait) over the input.
// The map's <img> sits in a frame whose background is the input picture.

/** The convention drawn over the input; the diverging one, white at zero. */
export const OVERLAID = "heatmap";
export const DIVERGING = "signed_channel";

export interface OverlayStyle {
  frame: { backgroundImage: string; backgroundColor: string };
  img: { opacity: string; backgroundColor: string };
}

/** How a map of `convention` is framed: over `inputUrl` at `opacity` for heat maps; over
 * white for diverging maps (white is their zero, so that a shared scale's CSS opacity fades
 * them towards zero); else as it is (the stylesheet's own background). */
export function overlayStyle(convention: string | undefined, inputUrl: string, opacity: number): OverlayStyle {
  if (convention === DIVERGING) {
    return { frame: { backgroundImage: "", backgroundColor: "#fff" }, img: { opacity: "", backgroundColor: "transparent" } };
  }
  if (convention !== OVERLAID || !inputUrl) {
    return { frame: { backgroundImage: "", backgroundColor: "" }, img: { opacity: "", backgroundColor: "" } };
  }
  const clamped = Math.min(Math.max(Number.isFinite(opacity) ? opacity : 1, 0), 1);
  return {
    frame: { backgroundImage: `url("${inputUrl}")`, backgroundColor: "" },
    img: { opacity: String(clamped), backgroundColor: "transparent" },
  };
}

/** `img` wrapped in the frame that `applyOverlay` paints. */
export function overlayFrame(img: HTMLImageElement): HTMLElement {
  const frame = document.createElement("div");
  frame.className = "bl-overlay";
  frame.append(img);
  return frame;
}

export function applyOverlay(img: HTMLImageElement, convention: string | undefined, inputUrl: string, opacity: number): void {
  const style = overlayStyle(convention, inputUrl, opacity);
  const frame = img.parentElement;
  if (frame && frame.style.backgroundImage !== style.frame.backgroundImage) {
    frame.style.backgroundImage = style.frame.backgroundImage;
  }
  if (frame) frame.style.backgroundColor = style.frame.backgroundColor;
  img.style.opacity = style.img.opacity;
  img.style.backgroundColor = style.img.backgroundColor;
}

/** The heat-map opacity control (data-testid "overlay-opacity"), 0–100 %. */
export function opacityControl(choose: (opacity: number) => void) {
  const label = document.createElement("label");
  label.className = "bl-field";
  label.textContent = "heat-map opacity ";
  const input = Object.assign(document.createElement("input"), {
    type: "range", min: "0", max: "100", step: "5",
  });
  input.setAttribute("data-testid", "overlay-opacity");
  input.setAttribute("data-lm-suppress-shortcuts", "true");
  label.append(input);
  input.addEventListener("input", () => choose(input.valueAsNumber / 100));
  const update = (opacity: number, shown: boolean) => {
    label.hidden = !shown;
    input.value = String(Math.round(opacity * 100));
  };
  return { label, input, update };
}
