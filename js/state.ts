// Pure functions from the widget's synced state to what the view shows. No DOM here, so that
// every rule of the view is unit-tested (js/tests/state.test.ts).
export const OUTPUT = "output";

/** How a method is labelled and coloured everywhere (the `method_styles` trait). */
export interface MethodStyle {
  label: string;
  colour: string;
}

/** The `crop` trait (backprop_lens/widget/notes.py): how the picture became the input. */
export interface Crop {
  width?: number;
  height?: number;
  box?: number[];
  cropped?: boolean;
  picture?: DataView;
}

export interface MapEntry {
  image: DataView;
  mime: string;
  scale: number;
  convention: string;
}

export interface LayerEntry {
  name: string;
  label: string;
}

/** [index, score] pairs, best first: classes by probability, channels by activation. */
export type Ranked = [number, number][];

export interface LensState {
  method: string;
  target: number;
  layer: string;
  shared_scale: boolean;
  status: string;
  progress: number;
  methods: string[];
  layers: LayerEntry[];
  classes: string[];
  targets: Record<string, Ranked>;
  maps: Record<string, MapEntry>;
  generation: number;
  input_png: DataView | null;
  conventions: Record<string, string>;
  sensitivity: Record<string, number>;
  model_name: string;
  note: string;
  // Perturbations (see backprop_lens/widget/perturb.py): all Python's.
  input_shape: number[];
  perturbed: boolean;
  perturbation_png: DataView | null;
  perturbation_scale: number;
  undo_depth: number;
  clean_targets: Ranked;
  similarity_metric: string;
  similarity: Record<string, number>;
  prediction_shift: number;
  attacking: boolean;
  attack_report: Record<string, unknown>;
  // What the view says in words (./notes.ts, backprop_lens/widget/notes.py).
  method_styles: Record<string, MethodStyle>;
  crop: Crop;
  layer_notes: Record<string, string>;
  show_hint: boolean;
  // The weights control (./weights.ts, backprop_lens/widget/weights.py) and map extras.
  weights: string;
  weight_levels: LayerEntry[];
  weights_similarity: Record<string, { ssim: (number | null)[]; spearman: (number | null)[] }>;
  weights_top: Record<string, Ranked>;
  completeness: Record<string, { error: number; gain: number }>;
  overlay_opacity: number;
}

/** Python's trait defaults. A page made by ipywidgets' embed drops every value equal to its
 * default, so the view reads missing traits from here. */
export const DEFAULTS: LensState = {
  method: "guided_backprop",
  target: 0,
  layer: OUTPUT,
  shared_scale: false,
  status: "idle",
  progress: 1,
  methods: [],
  layers: [],
  classes: [],
  targets: {},
  maps: {},
  generation: 0,
  input_png: null,
  conventions: {},
  sensitivity: {},
  model_name: "",
  note: "",
  input_shape: [],
  perturbed: false,
  perturbation_png: null,
  perturbation_scale: 0,
  undo_depth: 0,
  clean_targets: [],
  similarity_metric: "SSIM",
  similarity: {},
  prediction_shift: 0,
  attacking: false,
  attack_report: {},
  method_styles: {},
  crop: {},
  layer_notes: {},
  show_hint: true,
  weights: "trained",
  weight_levels: [],
  weights_similarity: {},
  weights_top: {},
  completeness: {},
  overlay_opacity: 0.6,
};

/** Whether the view can ask the kernel for maps: "unknown" until the kernel answers its first
 * message, or until it is clear that none will (a saved notebook or a published page). */
export type Kernel = "unknown" | "live" | "absent";

/** The caption of a map the view does not have. */
export function missingMapText(kernel: Kernel): string {
  return kernel === "absent"
    ? "not precomputed: needs a running kernel"
    : "computing…";
}

const METHOD_NAMES: Record<string, string> = {
  saliency: "Saliency",
  deconvnet: "DeconvNet",
  guided_backprop: "Guided backprop",
  input_x_gradient: "Input × gradient",
  smoothgrad: "SmoothGrad",
  integrated_gradients: "Integrated gradients",
  gradcam: "Grad-CAM",
  guided_gradcam: "Guided Grad-CAM",
};

export function methodName(method: string): string {
  return METHOD_NAMES[method] ?? method;
}

export function mapKey(layer: string, target: number, method: string): string {
  return `${layer}/${target}/${method}`;
}

export function ranked(state: Pick<LensState, "targets">, layer: string): Ranked {
  return state.targets[layer] ?? [];
}

/** The slider position of `target` among the layer's ranked targets (0 when absent). */
export function targetPosition(state: Pick<LensState, "targets">, layer: string, target: number) {
  const position = ranked(state, layer).findIndex(([index]) => index === target);
  return Math.max(position, 0);
}

export function layerPosition(state: Pick<LensState, "layers">, layer: string): number {
  return Math.max(
    state.layers.findIndex((entry) => entry.name === layer),
    0,
  );
}

export function targetLabel(
  state: Pick<LensState, "classes" | "targets">,
  layer: string,
  target: number,
): string {
  const entry = ranked(state, layer).find(([index]) => index === target);
  const score = entry ? entry[1] : NaN;
  if (layer === OUTPUT) {
    const name = state.classes[target] ?? String(target);
    return `${name} · p = ${score.toFixed(3)}`;
  }
  const count = ranked(state, layer).length;
  const activation = Number.isFinite(score) ? score.toPrecision(3) : "?";
  return `channel ${target} of ${count} (unnamed) · activation ${activation}`;
}

/** What choosing slider position `position` on the layer slider selects: a new layer starts at
 * its best target (the same rule as the Python side). */
export function layerAt(
  state: Pick<LensState, "layers" | "targets">,
  position: number,
): { layer: string; target: number } {
  const entry = state.layers[clamp(position, 0, state.layers.length - 1)];
  const layer = entry ? entry.name : OUTPUT;
  const best = ranked(state, layer)[0];
  return { layer, target: best ? best[0] : 0 };
}

export function targetAt(state: Pick<LensState, "targets">, layer: string, position: number) {
  const list = ranked(state, layer);
  const entry = list[clamp(position, 0, list.length - 1)];
  return entry ? entry[0] : 0;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), Math.max(high, low));
}

/** The CSS filter that puts a map on a scale shared with `others` of its convention.
 * Signed maps are centred on grey (contrast), absolute maps and heat maps start at black
 * (brightness), diverging maps are white at zero (opacity, over white: see ./overlay.ts);
 * see backprop_lens/render.py. */
export function sharedScaleFilter(entry: MapEntry, others: MapEntry[]): string {
  const peers = others.filter((other) => other.convention === entry.convention);
  const shared = Math.max(entry.scale, ...peers.map((other) => other.scale));
  if (!(shared > 0)) return "none";
  const factor = entry.scale / shared;
  if (factor === 1) return "none";
  const filter = entry.convention === "abs_grey" || entry.convention === "heatmap" ? "brightness"
    : entry.convention === "signed_channel" ? "opacity" : "contrast";
  return `${filter}(${factor.toFixed(4)})`;
}

export function isError(status: string): boolean {
  return status.startsWith("error");
}
