// The Explorer's view: a thin layer over the synced state owned by the Python side
// (backprop_lens/widget/explorer.py). User input only sets `method`, `target`, `layer` and
// `shared_scale`; everything shown is derived from the model's state by ./state.ts.
import type { AnyModel, RenderProps } from "@anywidget/types";
import {
  perturbationText,
  type Point,
  similarityText,
  type StrokeMode,
  strokeMessage,
  toInput,
} from "./canvas";
import { annotations, paintMethod } from "./annotations";
import { imageUrl } from "./codecs";
import { element, figure, ownKeys, setSlider, setText, slider } from "./dom";
import { heldPairs, initialKernel, linkBars, offered, PAGE_FLAG } from "./kernelless";
import { lookupMap, sentMaps } from "./mapstore";
import { applyOverlay, opacityControl, overlayFrame } from "./overlay";
import { perturbPanel } from "./perturb";
import { completenessText, weightsKey, weightsRow } from "./weights";
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
  OUTPUT,
  ranked,
  sharedScaleFilter,
  targetAt,
  targetLabel,
  targetPosition,
} from "./state";
import { UrlCache } from "./urls";
import "./widget.css";

type Model = AnyModel<LensState>;

/** The traits whose change redraws the view (maps, input and methods have their own). */
const REDRAWN_BY = [
  "method", "target", "layer", "status", "progress", "shared_scale", "targets", "layers",
  "classes", "model_name", "note", "perturbed", "similarity", "similarity_metric", "undo_depth",
  "attacking", "attack_report", "perturbation_scale", "sensitivity", "crop", "layer_notes",
  "show_hint", "method_styles", "weights", "weight_levels", "weights_top", "completeness",
  "overlay_opacity",
] as const;

/** The prefix of the keys of the clean input's maps (see explorer.py). */
const CLEAN = "clean/";

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

function render({ model, el }: RenderProps<LensState>) {
  const id = `backprop-lens-${++instances}`;
  const urls = new UrlCache();
  /** A map of the current generation: its own state key, else the `maps` trait's (mapstore.ts). */
  const find = (synced: LensState["maps"], key: string) => lookupMap(
    (attribute) => (model.get as (key: string) => unknown)(attribute), synced, key,
    read(model, "generation"));

  const root = element("div", { className: "backprop-lens" });
  const status = element("span", { className: "bl-status", role: "status" }, "status");
  const progress = element("progress", { className: "bl-progress", max: 1 });
  const title = element("span", { className: "bl-title" });
  const note = element("span", { className: "bl-note" }, "note");
  const header = element("div", { className: "bl-header" });
  header.append(title, status, progress, note);
  // A page says so in its state; elsewhere the kernel's first answer tells (see kernelless.ts).
  let kernel: Kernel = initialKernel((model.get as (key: string) => unknown)(PAGE_FLAG) === true);
  /** The "layer/target" pairs the page holds maps of: counted once, again when maps come. */
  let held: Set<string> | null = null;
  /** The state as the controls offer it: without a kernel, only what the page holds. */
  const viewed = () => {
    const state = snapshot(model);
    if (kernel !== "absent") return state;
    held ??= heldPairs(state, (key) => find(state.maps, key) !== undefined);
    return offered(state, held);
  };

  const methods = element("div", { className: "bl-methods", role: "group" }, "method-select");
  methods.setAttribute("aria-label", "Method");
  const target = slider(`${id}-target`, "Target", "target-slider");
  const layer = slider(`${id}-layer`, "Layer", "layer-slider");
  const shared = ownKeys(element("input", { type: "checkbox", id: `${id}-shared` }, "shared-scale"));
  const sharedLabel = element("label", { htmlFor: shared.id, textContent: " shared scale" });
  const sharedRow = element("div", { className: "bl-shared" });
  sharedRow.append(shared, sharedLabel);
  const controls = element("div", { className: "bl-controls" });
  const weights = weightsRow(id, (level) => choose({ weights: level })); // ./weights.ts
  const opacity = opacityControl((value) => choose({ overlay_opacity: value })); // ./overlay.ts
  sharedRow.append(opacity.label);
  controls.append(methods, target.row, layer.row, weights.row, sharedRow);
  const notes = annotations((show) => choose({ show_hint: show })); // ./annotations.ts
  controls.append(notes.layerNote);

  const inputView = element("img", { alt: "input image" }, "input-view");
  const canvas = element("canvas", { className: "bl-canvas", width: 1, height: 1 }, "perturb-canvas");
  canvas.setAttribute("aria-label", "Paint a perturbation on the input");
  const inputFrame = element("div", { className: "bl-input-frame" });
  inputFrame.append(inputView, canvas);
  const inputCaption = element("figcaption", { textContent: "input" });
  const mapView = element("img", { alt: "map" }, "map-view");
  const mapCaption = element("figcaption");
  const main = element("div", { className: "bl-main" });
  const inputFigure = figure(inputFrame, inputCaption);
  inputFigure.append(notes.crop);
  main.append(inputFigure, figure(overlayFrame(mapView), mapCaption));

  // The perturbation panel: a brush, undo/reset, and attacks (./perturb.ts).
  const panel = perturbPanel(notes.attackStart, (message) => model.send(message), () => update());
  const { mode, brushSize, strength, showPerturbation } = panel;
  const compare = element("div", { className: "bl-compare" }, "compare-row");
  const compareClean = element("div", { className: "bl-compare" }, "compare-clean-row");
  let compareImages: HTMLImageElement[] = [];
  let cleanImages: HTMLImageElement[] = [];
  let compareCaptions: HTMLElement[] = [];
  root.append(header, controls, panel.element, main, compare, notes.hint, compareClean);
  el.append(root);

  const choose = (changes: Partial<LensState>) => {
    for (const [key, value] of Object.entries(changes)) {
      model.set(key as keyof LensState, value as never);
    }
    model.save_changes();
  };

  // A slider move also tells the kernel at once which maps to start: ipywidgets sends the
  // state one message at a time, each after the kernel's answer to the one before, so the last
  // move of a burst would reach it round trips late (the state still sets the traits).
  const chooseView = (view: { layer: string; target: number }) => {
    choose(view);
    if (kernel !== "absent") model.send({ type: "view", ...view });
  };
  target.input.addEventListener("input", () => {
    const layerName = read(model, "layer");
    const chosen = targetAt(viewed(), layerName, target.input.valueAsNumber);
    chooseView({ layer: layerName, target: chosen });
  });
  layer.input.addEventListener("input", () => {
    chooseView(layerAt(viewed(), layer.input.valueAsNumber));
  });
  shared.addEventListener("change", () => choose({ shared_scale: shared.checked }));

  const buildMethodButtons = () => {
    const images = (clean: boolean) => read(model, "methods").map((name) => {
      const img = element("img", { alt: `${methodName(name)}${clean ? " (clean)" : ""}` });
      img.dataset.method = name;
      return img;
    });
    compareImages = images(false);
    cleanImages = images(true);
    compareCaptions = read(model, "methods").map((name) =>
      element("figcaption", { textContent: methodName(name) }));
    compareCaptions.forEach((caption, i) =>
      paintMethod(caption, read(model, "method_styles"), read(model, "methods")[i]));
    compare.replaceChildren(
      ...read(model, "methods").map((_, i) => figure(overlayFrame(compareImages[i]), compareCaptions[i])),
    );
    compareClean.replaceChildren(
      ...read(model, "methods").map((name, i) =>
        figure(cleanImages[i], element("figcaption", { textContent: `${methodName(name)} · clean` })),
      ),
    );
    methods.replaceChildren(
      ...read(model, "methods").map((name) => {
        const button = ownKeys(element("button", { type: "button", textContent: methodName(name) }));
        button.dataset.method = name;
        paintMethod(button, read(model, "method_styles"), name);
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
    // Without its map, no other map may stay under this choice's label.
    if (!entry && kernel === "absent") img.removeAttribute("src");
    if (img.style.filter !== filter) img.style.filter = filter;
  };

  // One redraw for all the traits that one message or one slider move changes (each change
  // fires its own event): a redraw dirties the page's layout, which JupyterLab then reads.
  let redrawQueued = false;
  const redraw = () => {
    if (redrawQueued) return;
    redrawQueued = true;
    queueMicrotask(() => {
      redrawQueued = false;
      update();
    });
  };

  const update = () => {
    const state = viewed();
    const synced = state.maps;
    setText(title, state.model_name);
    setText(status, state.status);
    setText(note, kernel === "absent"
      ? "no kernel: the precomputed maps only"
      : state.status === "computing" ? state.note : "");
    status.classList.toggle("bl-error", isError(state.status));
    progress.value = state.progress;
    progress.hidden = state.status !== "computing";

    for (const button of methods.querySelectorAll<HTMLButtonElement>("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.method === state.method));
    }
    const targets = ranked(state, state.layer);
    setSlider(target, targets.length - 1, targetPosition(state, state.layer, state.target),
      targetLabel(state, state.layer, state.target));
    const layerEntry = state.layers[layerPosition(state, state.layer)];
    setSlider(layer, state.layers.length - 1, layerPosition(state, state.layer),
      layerEntry ? layerEntry.label : state.layer);
    shared.checked = state.shared_scale;

    const keys = state.methods.map((name) =>
      weightsKey(state.weights, mapKey(state.layer, state.target, name)));
    const entries = keys.map((key) => find(synced, key));
    const present = entries.filter((entry): entry is MapEntry => entry !== undefined);
    const filterFor = (entry: MapEntry | undefined) =>
      entry && state.shared_scale ? sharedScaleFilter(entry, present) : "none";
    const chosen = state.methods.indexOf(state.method);
    const current = entries[chosen];
    showMap(mapView, keys[chosen], current, filterFor(current));
    const overlaid = [mapView, ...compareImages];
    [current, ...entries].forEach((entry, i) =>
      applyOverlay(overlaid[i], entry?.convention, inputView.src, state.overlay_opacity));
    opacity.update(state.overlay_opacity, entries.some((entry) => entry?.convention === "heatmap"));
    weights.update(state);
    const convention = current
      ? (state.conventions[current.convention] ?? "")
      : missingMapText(kernel);
    const scale = state.shared_scale ? " · shared scale per convention" : "";
    setText(mapCaption,
      `${methodName(state.method)}: ${convention}${scale}${completenessText(state, keys[chosen])}`);

    compareImages.forEach((img, i) => showMap(img, keys[i], entries[i], filterFor(entries[i])));
    updatePerturbation(state, keys);
    notes.update(state);
  };

  const updatePerturbation = (state: LensState, keys: string[]) => {
    const live = kernel !== "absent";
    panel.update(state, live);
    canvas.classList.toggle("bl-disabled", !live);
    setText(inputCaption, state.perturbed
      ? (showPerturbation.checked ? perturbationText(state.perturbation_scale) : "input · perturbed")
      : "input");
    compareClean.hidden = !state.perturbed;
    const cleanEntries = keys.map((key) => find(state.maps, CLEAN + key));
    cleanImages.forEach((img, i) => showMap(img, CLEAN + keys[i], cleanEntries[i], "none"));
    compareCaptions.forEach((caption, i) => {
      const name = methodName(state.methods[i]);
      setText(caption, state.perturbed
        ? `${name} · ${similarityText(state.similarity_metric, state.similarity[state.methods[i]])}`
        : kernel === "absent" && !find(state.maps, keys[i]) ? `${name} · not in this page`
          : name);
    });
  };

  // Painting: pointer events (mouse, pen and touch alike), drawn at the input's resolution.
  let path: Point[] = [];
  const inputPoint = (event: PointerEvent) =>
    toInput(event.clientX, event.clientY, canvas.getBoundingClientRect(), canvas.width, canvas.height);
  const radius = () => brushSize.valueAsNumber / 2;
  const preview = () => {
    const context = canvas.getContext("2d");
    if (!context) return;
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (path.length === 0) return;
    context.strokeStyle = context.fillStyle = "rgba(230, 85, 13, 0.5)";
    context.lineWidth = 2 * radius();
    context.lineCap = context.lineJoin = "round";
    context.beginPath();
    context.moveTo(path[0].x, path[0].y);
    for (const point of path) context.lineTo(point.x, point.y);
    if (path.length === 1) context.arc(path[0].x, path[0].y, radius(), 0, 2 * Math.PI);
    context.stroke();
  };
  const sizeCanvas = () => {
    const [height, width] = read(model, "input_shape");
    if (width && height && (canvas.width !== width || canvas.height !== height)) {
      canvas.width = width;
      canvas.height = height;
    }
  };
  canvas.addEventListener("pointerdown", (event) => {
    if (kernel === "absent" || read(model, "attacking") || event.button !== 0) return;
    sizeCanvas();
    canvas.setPointerCapture(event.pointerId);
    path = [inputPoint(event)];
    preview();
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (path.length === 0) return;
    path.push(inputPoint(event));
    preview();
  });
  const endStroke = (send: boolean) => {
    const points = path;
    path = [];
    if (!send || points.length === 0) return preview();
    const stroke = strokeMessage(points, radius(), mode.value as StrokeMode,
      strength.valueAsNumber, canvas.width, canvas.height);
    if (stroke) model.send(stroke.message, undefined, [stroke.buffer]);
    // the preview stays until the kernel's new input arrives
  };
  canvas.addEventListener("pointerup", () => endStroke(true));
  canvas.addEventListener("pointercancel", () => endStroke(false));

  showPerturbation.addEventListener("change", () => { showInput(); update(); });

  const showInput = () => {
    sizeCanvas();
    path = [];
    preview();
    const perturbation = showPerturbation.checked && read(model, "perturbed");
    const url = imageUrl(read(model, perturbation ? "perturbation_png" : "input_png"));
    if (inputView.src) URL.revokeObjectURL(inputView.src);
    inputView.src = url ?? "";
  };

  const onMessage = () => {
    kernel = "live";
    redraw();
  };
  /** New maps, each its own state key: decoded ahead, then shown. */
  const onChange = (changed: { changedAttributes(): Record<string, unknown> | false }) => {
    const found = sentMaps(changed.changedAttributes() || {}, read(model, "generation"));
    for (const [key, entry] of found) urls.get(key, entry);
    if (found.length > 0) {
      held = null;
      redraw();
    }
  };
  const onMaps = () => {
    held = null;
    for (const [key, entry] of Object.entries(read(model, "maps"))) urls.get(key, entry);
    redraw();
  };
  const onGeneration = () => {
    urls.clear();
    onMaps();
  };

  // Every change listener of this view, set here and removed when the view goes.
  const listeners: [`change:${string}`, () => void][] = [
    ["change:maps", onMaps],
    ["change:generation", onGeneration],
    ["change:input_png", showInput],
    ["change:perturbation_png", showInput],
    ["change:methods", buildMethodButtons],
    ...REDRAWN_BY.map((trait): [`change:${string}`, () => void] => [`change:${trait}`, redraw]),
  ];
  model.on("msg:custom", onMessage);
  (model.on as (event: string, callback: typeof onChange) => void)("change", onChange);
  for (const [event, listener] of listeners) model.on(event, listener);
  buildMethodButtons();
  showInput();
  onMaps();
  // Maps sent before this view listened are in the next whole sync; ask for it now. The
  // kernel's answer also tells that there is one; in a saved or published page none comes.
  const noKernel = setTimeout(() => {
    if (kernel === "unknown") kernel = "absent";
    path = []; // a stroke begun meanwhile is dropped, with its preview
    preview();
    update();
  }, kernel === "absent" ? 0 : KERNEL_TIMEOUT_MS);
  try {
    if (kernel !== "absent") model.send({ type: "sync" });
  } catch {
    kernel = "absent"; // a static page's widget manager has no kernel to send to
  }
  const unlinkBars = kernel === "absent"
    ? linkBars(model, (chosen) => choose({ layer: OUTPUT, target: chosen }))
    : Promise.resolve(() => undefined);

  return () => {
    clearTimeout(noKernel);
    unlinkBars.then((unlink) => unlink());
    model.off("msg:custom", onMessage);
    (model.off as (event: string, callback: typeof onChange) => void)("change", onChange);
    for (const [event, listener] of listeners) model.off(event, listener);
    urls.clear();
    notes.dispose();
  };
}

export default { render };
