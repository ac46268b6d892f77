// The Explorer's view: a thin layer over the synced state owned by the Python side
// (backprop_lens/widget/explorer.py). User input only sets `method`, `target`, `layer` and
// `shared_scale`; everything shown is derived from the model's state by ./state.ts.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { imageUrl } from "./codecs";
import { isMapsMessage, MapStore } from "./mapstore";
import {
  DEFAULTS,
  isError,
  type Kernel,
  layerAt,
  layerPosition,
  type LensState,
  mapKey,
  type MapEntry,
  methodName,
  missingMapText,
  ranked,
  sharedScaleFilter,
  targetAt,
  targetLabel,
  targetPosition,
} from "./state";
import "./widget.css";

type Model = AnyModel<LensState>;


/** The traits whose change redraws the view (maps, input and methods have their own). */
const REDRAWN_BY = [
  "method", "target", "layer", "status", "progress", "shared_scale", "targets", "layers",
  "classes", "model_name", "note",
] as const;

/** How long the view waits for the kernel's first answer before it takes the page as static. */
const KERNEL_TIMEOUT_MS = 4000;

/** The value of one trait, or its default when the state left it out. */
function read<K extends keyof LensState>(model: Model, key: K): LensState[K] {
  const value = model.get(key);
  return value === undefined || value === null ? DEFAULTS[key] : value;
}

/** The whole synced state at this instant. */
function snapshot(model: Model): LensState {
  const keys = Object.keys(DEFAULTS) as (keyof LensState)[];
  return Object.fromEntries(keys.map((key) => [key, read(model, key)])) as unknown as LensState;
}

let instances = 0;

/** Object URLs of the maps, by map key (a key's picture never changes within a generation),
 * freed with the generation. Each is decoded as soon as it is known, so that showing it later
 * paints in the next frame. */
class UrlCache {
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

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  testId?: string,
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  if (testId) node.setAttribute("data-testid", testId);
  return node;
}

/** Keys pressed on `control` are its own: without this, JupyterLab's and Notebook 7's command
 * mode shortcuts take the arrow keys from sliders and Enter from buttons. */
function ownKeys<T extends HTMLElement>(control: T): T {
  control.setAttribute("data-lm-suppress-shortcuts", "true");
  return control;
}

function figure(img: HTMLImageElement, caption: HTMLElement): HTMLElement {
  const node = element("figure");
  node.append(img, caption);
  return node;
}

function slider(id: string, text: string, testId: string) {
  const label = element("label", { htmlFor: id, textContent: text });
  const input = ownKeys(element("input", { id, type: "range", min: "0", step: "1" }, testId));
  const value = element("output");
  value.htmlFor.add(id);
  const row = element("div", { className: "bl-slider" });
  row.append(label, input, value);
  return { row, input, value };
}

function render({ model, el }: RenderProps<LensState>) {
  const id = `backprop-lens-${++instances}`;
  const store = new MapStore();
  const urls = new UrlCache();
  store.reset(read(model, "generation"));

  const root = element("div", { className: "backprop-lens" });
  const status = element("span", { className: "bl-status", role: "status" }, "status");
  const progress = element("progress", { className: "bl-progress", max: 1 });
  const title = element("span", { className: "bl-title" });
  const note = element("span", { className: "bl-note" }, "note");
  const header = element("div", { className: "bl-header" });
  header.append(title, status, progress, note);
  let kernel: Kernel = "unknown";

  const methods = element("div", { className: "bl-methods", role: "group" }, "method-select");
  methods.setAttribute("aria-label", "Method");
  const target = slider(`${id}-target`, "Target", "target-slider");
  const layer = slider(`${id}-layer`, "Layer", "layer-slider");
  const shared = ownKeys(element("input", { type: "checkbox", id: `${id}-shared` }, "shared-scale"));
  const sharedLabel = element("label", { htmlFor: shared.id, textContent: " shared scale" });
  const sharedRow = element("div", { className: "bl-shared" });
  sharedRow.append(shared, sharedLabel);
  const controls = element("div", { className: "bl-controls" });
  controls.append(methods, target.row, layer.row, sharedRow);

  const inputView = element("img", { alt: "input image" }, "input-view");
  const mapView = element("img", { alt: "map" }, "map-view");
  const mapCaption = element("figcaption");
  const main = element("div", { className: "bl-main" });
  main.append(
    figure(inputView, element("figcaption", { textContent: "input" })),
    figure(mapView, mapCaption),
  );
  const compare = element("div", { className: "bl-compare" }, "compare-row");
  let compareImages: HTMLImageElement[] = [];
  root.append(header, controls, main, compare);
  el.append(root);

  const choose = (changes: Partial<LensState>) => {
    for (const [key, value] of Object.entries(changes)) {
      model.set(key as keyof LensState, value as never);
    }
    model.save_changes();
  };

  target.input.addEventListener("input", () => {
    const layerName = read(model, "layer");
    choose({ target: targetAt(snapshot(model), layerName, target.input.valueAsNumber) });
  });
  layer.input.addEventListener("input", () => {
    choose(layerAt(snapshot(model), layer.input.valueAsNumber));
  });
  shared.addEventListener("change", () => choose({ shared_scale: shared.checked }));

  const buildMethodButtons = () => {
    compareImages = read(model, "methods").map((name) => {
      const img = element("img", { alt: methodName(name) });
      img.dataset.method = name;
      return img;
    });
    compare.replaceChildren(
      ...read(model, "methods").map((name, i) =>
        figure(compareImages[i], element("figcaption", { textContent: methodName(name) })),
      ),
    );
    methods.replaceChildren(
      ...read(model, "methods").map((name) => {
        const button = ownKeys(element("button", { type: "button", textContent: methodName(name) }));
        button.dataset.method = name;
        button.addEventListener("click", () => choose({ method: name }));
        return button;
      }),
    );
  };

  const showMap = (
    img: HTMLImageElement,
    key: string,
    entry: MapEntry | undefined,
    filter: string,
  ) => {
    img.classList.toggle("bl-pending", !entry);
    const url = entry ? urls.get(key, entry) : null;
    if (url && img.getAttribute("src") !== url) img.src = url;
    if (img.style.filter !== filter) img.style.filter = filter;
  };

  const update = () => {
    const state = snapshot(model);
    const synced = state.maps;
    title.textContent = state.model_name;
    status.textContent = state.status;
    note.textContent =
      kernel === "absent"
        ? "no kernel: the precomputed maps only"
        : state.status === "computing" ? state.note : "";
    status.classList.toggle("bl-error", isError(state.status));
    progress.value = state.progress;
    progress.hidden = state.status !== "computing";

    for (const button of methods.querySelectorAll<HTMLButtonElement>("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.method === state.method));
    }
    const targets = ranked(state, state.layer);
    target.input.max = String(Math.max(targets.length - 1, 0));
    target.input.value = String(targetPosition(state, state.layer, state.target));
    target.value.textContent = targetLabel(state, state.layer, state.target);
    target.input.setAttribute("aria-valuetext", target.value.textContent);
    layer.input.max = String(Math.max(state.layers.length - 1, 0));
    layer.input.value = String(layerPosition(state, state.layer));
    const layerEntry = state.layers[layerPosition(state, state.layer)];
    layer.value.textContent = layerEntry ? layerEntry.label : state.layer;
    layer.input.setAttribute("aria-valuetext", layer.value.textContent);
    shared.checked = state.shared_scale;

    const keys = state.methods.map((name) => mapKey(state.layer, state.target, name));
    const entries = keys.map((key) => store.lookup(synced, key));
    const present = entries.filter((entry): entry is MapEntry => entry !== undefined);
    const filterFor = (entry: MapEntry | undefined) =>
      entry && state.shared_scale ? sharedScaleFilter(entry, present) : "none";
    const chosen = state.methods.indexOf(state.method);
    const current = entries[chosen];
    showMap(mapView, keys[chosen], current, filterFor(current));
    const convention = current
      ? (state.conventions[current.convention] ?? "")
      : missingMapText(kernel);
    const scale = state.shared_scale ? " · shared scale per convention" : "";
    mapCaption.textContent = `${methodName(state.method)}: ${convention}${scale}`;

    compareImages.forEach((img, i) => showMap(img, keys[i], entries[i], filterFor(entries[i])));
  };

  const showInput = () => {
    const url = imageUrl(read(model, "input_png"));
    if (inputView.src) URL.revokeObjectURL(inputView.src);
    inputView.src = url ?? "";
  };

  const onMessage = (content: unknown, buffers: DataView[]) => {
    kernel = "live";
    if (!isMapsMessage(content) || !store.apply(content, buffers, read(model, "generation"))) {
      update();
      return;
    }
    content.add.forEach((item, i) => {
      const { mime, scale, convention } = item;
      urls.get(item.key, { image: buffers[i], mime, scale, convention }); // decode ahead
    });
    update();
  };
  const onMaps = () => {
    store.reset(read(model, "generation"));
    for (const [key, entry] of Object.entries(read(model, "maps"))) urls.get(key, entry);
    update();
  };
  const onGeneration = () => {
    urls.clear();
    onMaps();
  };

  model.on("msg:custom", onMessage);
  model.on("change:maps", onMaps);
  model.on("change:generation", onGeneration);
  model.on("change:input_png", showInput);
  model.on("change:methods", buildMethodButtons);
  for (const trait of REDRAWN_BY) model.on(`change:${trait}`, update);
  buildMethodButtons();
  showInput();
  onMaps();
  // Maps sent before this view listened are in the next whole sync; ask for it now. The
  // kernel's answer also tells that there is one; in a saved or published page none comes.
  const noKernel = setTimeout(() => {
    if (kernel === "unknown") kernel = "absent";
    update();
  }, KERNEL_TIMEOUT_MS);
  try {
    model.send({ type: "sync" });
  } catch {
    kernel = "absent"; // a static page's widget manager has no kernel to send to
  }

  return () => {
    clearTimeout(noKernel);
    model.off("msg:custom", onMessage);
    model.off("change:maps", onMaps);
    model.off("change:generation", onGeneration);
    model.off("change:input_png", showInput);
    model.off("change:methods", buildMethodButtons);
    for (const trait of REDRAWN_BY) model.off(`change:${trait}`, update);
    urls.clear();
  };
}

export default { render };
