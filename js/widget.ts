// The widget's view: a thin layer over the synced state owned by the Python side.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { pngUrl } from "./codecs";
import "./widget.css";

interface LensState {
  status: string;
  input_png: DataView | null;
  map_png: DataView | null;
}

/** An <img> that follows one PNG trait of the model, and frees its old object URL. */
function bindImage(model: AnyModel<LensState>, trait: "input_png" | "map_png", testId: string) {
  const img = document.createElement("img");
  img.dataset.testid = testId;
  const update = () => {
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = pngUrl(model.get(trait)) ?? "";
  };
  model.on(`change:${trait}`, update);
  update();
  return img;
}

function render({ model, el }: RenderProps<LensState>) {
  const root = document.createElement("div");
  root.className = "backprop-lens";
  const status = document.createElement("div");
  status.dataset.testid = "status";
  const showStatus = () => {
    status.textContent = model.get("status");
  };
  model.on("change:status", showStatus);
  showStatus();
  root.append(
    bindImage(model, "input_png", "input-view"),
    bindImage(model, "map_png", "map-view"),
    status,
  );
  el.append(root);
}

export default { render };
