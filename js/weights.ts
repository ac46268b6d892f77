// The weights control (the sanity check of Adebayo et al. 2018, backprop_lens/widget/weights.py):
// a slider from the trained model down through cascading randomisation to every layer re-drawn.
// Maps at a level live under a "weights=<level>/" prefix of their key. The pure functions here
// are unit-tested in js/tests/weights.test.ts; `weightsRow` builds the DOM row.
import { setSlider } from "./dom";
import type { LensState } from "./state";

export const TRAINED = "trained";
export const WEIGHTS_PREFIX = "weights=";

/** The map key `key` ("layer/target/method") at randomisation `level`. */
export function weightsKey(level: string, key: string): string {
  return level === TRAINED ? key : `${WEIGHTS_PREFIX}${level}/${key}`;
}

/** The slider position of `level` (0, trained, when unknown). */
export function levelPosition(state: Pick<LensState, "weight_levels">, level: string): number {
  return Math.max(state.weight_levels.findIndex((entry) => entry.name === level), 0);
}

/** The level at slider position `position`. */
export function levelAt(state: Pick<LensState, "weight_levels">, position: number): string {
  const levels = state.weight_levels;
  const entry = levels[Math.min(Math.max(position, 0), levels.length - 1)];
  return entry ? entry.name : TRAINED;
}

/** What the slider's value says: the level, and at a randomised level the randomised model's
 * top class (the predictions follow the weights). */
export function levelText(
  state: Pick<LensState, "weight_levels" | "weights" | "weights_top" | "classes">,
): string {
  const entry = state.weight_levels[levelPosition(state, state.weights)];
  const label = entry ? entry.label : state.weights;
  if (state.weights === TRAINED) return label;
  const top = state.weights_top[state.weights]?.[0];
  if (!top) return label; // not computed yet, or a page without the randomised predictions
  const name = state.classes[top[0]] ?? String(top[0]);
  return `${label} · predicts ${name} (p = ${top[1].toFixed(3)})`;
}

/** Integrated Gradients' completeness, for the caption of the map `key` (empty for others). */
export function completenessText(state: Pick<LensState, "completeness">, key: string): string {
  const entry = state.completeness[key];
  if (!entry) return "";
  return ` · completeness: Σ map − Δf = ${entry.error.toPrecision(3)} (Δf = ${entry.gain.toPrecision(3)})`;
}

/** The row of the weights slider (data-testid "weights-slider"). */
export function weightsRow(id: string, choose: (level: string) => void) {
  const row = document.createElement("div");
  row.className = "bl-slider bl-weights";
  const label = Object.assign(document.createElement("label"), {
    htmlFor: `${id}-weights`, textContent: "Weights",
  });
  const input = Object.assign(document.createElement("input"), {
    id: `${id}-weights`, type: "range", min: "0", step: "1",
  });
  input.setAttribute("data-testid", "weights-slider");
  input.setAttribute("data-lm-suppress-shortcuts", "true");
  input.title = "Cascading randomisation: re-draw the layers from the top down (sanity check)";
  const value = document.createElement("output");
  value.htmlFor.add(input.id);
  value.setAttribute("data-testid", "weights-value");
  row.append(label, input, value);
  let state: LensState | null = null;
  input.addEventListener("input", () => {
    if (state) choose(levelAt(state, input.valueAsNumber));
  });
  const update = (current: LensState) => {
    state = current;
    row.hidden = current.weight_levels.length < 2;
    setSlider({ input, value }, current.weight_levels.length - 1,
      levelPosition(current, current.weights), levelText(current));
  };
  return { row, input, update };
}
