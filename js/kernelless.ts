// The Explorer without a kernel: what a page may offer, and the links a kernel would keep.
// Pure functions over the state, plus the wiring of the probability bars.
//
// - A page written by ipywidgets.embed, export_html or publish carries PAGE_FLAG in the Explorer's
//   state (backprop_lens/widget/embedding.py): the view knows from its first frame that no kernel
//   will answer. Without a kernel the sliders offer only the layers and targets the page holds
//   (`offered`), and the probability bars, which a kernel would link to the target, are linked
//   here (`linkBars`).
import type { AnyModel } from "@anywidget/types";
import { type Kernel, type LensState, mapKey, OUTPUT, ranked } from "./state";

/** The state key that marks a page with no kernel (see embedding.py). */
export const PAGE_FLAG = "_page";
/** The state key that names the probability bars of a page (see embedding.py). */
export const PAGE_BARS = "_page_bars";

type Model = AnyModel<LensState>;

/** What the view knows about the kernel at its first frame. */
export function initialKernel(isPage: boolean): Kernel {
  return isPage ? "absent" : "unknown";
}

/** The "layer/target" pairs of `state.targets` that have a map of at least one method, as
 * `has(key)` tells for a map key (the view looks in the per-map state keys and in `maps`). */
export function heldPairs(
  state: Pick<LensState, "targets" | "methods">,
  has: (key: string) => boolean,
): Set<string> {
  const held = new Set<string>();
  for (const [layer, list] of Object.entries(state.targets)) {
    for (const [index] of list) {
      if (state.methods.some((method) => has(mapKey(layer, index, method)))) {
        held.add(`${layer}/${index}`);
      }
    }
  }
  return held;
}

/** The state as a view with no kernel offers it: each layer's targets only where the page holds
 * a map (`held`: see heldPairs), and only the layers that keep a target. The current layer and
 * target always stay (so that the view names what the state says, and says when it is not in
 * the page). */
export function offered<S extends Pick<LensState, "targets" | "layers" | "layer" | "target">>(
  state: S,
  held: Set<string>,
): S {
  const targets: LensState["targets"] = {};
  for (const [layer, list] of Object.entries(state.targets)) {
    targets[layer] = list.filter(([index]) =>
      held.has(`${layer}/${index}`) || (layer === state.layer && index === state.target));
  }
  const layers = state.layers.filter((entry) =>
    entry.name === state.layer || (targets[entry.name] ?? []).length > 0);
  return { ...state, targets, layers };
}

/** The bar (position among the top classes) that shows `target`, or null when none does. */
export function barOf(state: Pick<LensState, "targets" | "layer" | "target">, bars: number) {
  if (state.layer !== OUTPUT) return null;
  const position = ranked(state, OUTPUT).slice(0, bars).findIndex(([i]) => i === state.target);
  return position < 0 ? null : position;
}

/** The output-layer target of bar `position`, or null. */
export function targetOfBar(state: Pick<LensState, "targets">, position: number): number | null {
  const entry = ranked(state, OUTPUT)[position];
  return entry ? entry[0] : null;
}

interface BarsModel {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  on(event: string, callback: () => void): void;
  off(event: string, callback: () => void): void;
}

/** In a page, keep the probability bars' highlight and the Explorer's target in step both ways
 * (a kernel does this in Python: charts.py). Resolves to the function that unlinks them. */
export async function linkBars(model: Model, onTarget: (target: number) => void) {
  const reference = (model.get as (key: string) => unknown)(PAGE_BARS);
  if (typeof reference !== "string") return () => undefined;
  const manager = model.widget_manager as unknown as { get_model(id: string): Promise<BarsModel> };
  let bars: BarsModel;
  try {
    bars = await manager.get_model(reference.replace(/^IPY_MODEL_/, ""));
  } catch {
    return () => undefined; // the page holds the Explorer without its charts
  }
  if (!bars) return () => undefined;
  const count = () => (bars.get("x") as unknown[] | null)?.length ?? 0;
  const state = () => ({
    targets: model.get("targets") ?? {}, layer: model.get("layer"), target: model.get("target"),
  });
  const showTarget = () => {
    const position = barOf(state(), count());
    bars.set("selected", position === null ? null : [position]);
  };
  const chooseBar = () => {
    const selected = bars.get("selected") as number[] | null;
    if (!selected || selected.length === 0) return;
    const target = targetOfBar(state(), selected[0]);
    if (target !== null && (target !== model.get("target") || model.get("layer") !== OUTPUT)) {
      onTarget(target);
    }
  };
  model.on("change:target", showTarget);
  model.on("change:layer", showTarget);
  bars.on("change:selected", chooseBar);
  showTarget();
  return () => {
    model.off("change:target", showTarget);
    model.off("change:layer", showTarget);
    bars.off("change:selected", chooseBar);
  };
}
