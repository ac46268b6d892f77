// What the Explorer says in words, as pure functions of the synced state: the attack's outcome,
// the centre crop, why a layer's maps look the way they do, and the paper's finding under the
// compare row. No DOM here: every sentence is unit-tested (js/tests/notes.test.ts).
import { type Crop, type MethodStyle, OUTPUT } from "./state";

export function methodLabel(styles: Record<string, MethodStyle>, method: string): string {
  return styles[method]?.label ?? method;
}

/** The attack's outcome in words: what was asked (method, ε, the image it started from, the
 * class it aimed at), and what came of it, a targeted miss said as such. Empty when there is no
 * report (nothing attacked, or the attacked perturbation was undone or reset). */
export function attackText(report: Record<string, unknown>, classes: readonly string[]): string {
  if (report.cancelled === true) return "attack cancelled: the input is as before it";
  const { before, after } = report;
  if (typeof before !== "number" || typeof after !== "number") return "";
  const name = (index: number) => classes[index] ?? String(index);
  const confidence = (key: string) =>
    typeof report[key] === "number" ? ` (${(report[key] as number).toFixed(2)})` : "";
  const from = report.start === "painted" ? ", from the painted image" : "";
  const eps = typeof report.eps === "number" ? `, ε ${report.eps}/255` : "";
  const method = String(report.method ?? "").toUpperCase();
  const change = `${name(before)}${confidence("confidence_before")} → ` +
    `${name(after)}${confidence("confidence_after")}`;
  if (typeof report.target === "number") {
    const aim = name(report.target);
    const outcome = after === report.target ? "reached" : `missed: still not ${aim}`;
    return `${method} targeted toward ${aim}${eps}${from}: ${change}, ${outcome}`;
  }
  const outcome = after === before ? ": the prediction held" : "";
  return `${method} untargeted${eps}${from}: ${change}${outcome}`;
}

/** How the picture became the model's input: the part of a non-square picture kept by the
 * centre crop, or the scaling alone. */
export function cropText(crop: Crop, inputShape: readonly number[]): string {
  const [height, width] = inputShape;
  if (!crop.width || !crop.height || !height || !width) return "";
  const size = `${crop.width}×${crop.height}`;
  if (crop.cropped && crop.box && crop.box.length === 4) {
    const [left, top, right, bottom] = crop.box;
    return `centre crop: the model sees the middle ${right - left}×${bottom - top} of the ` +
      `${size} picture (bright, outlined), scaled to ${width}×${height}; the darkened parts ` +
      "are cut off";
  }
  if (crop.width !== width || crop.height !== height) {
    return `the whole ${size} picture, scaled to ${width}×${height}`;
  }
  return "";
}

/** Whether class names are only numbers: the model came without names. */
function unnamed(classes: readonly string[]): boolean {
  return classes.length > 0 && classes.every((name) => /^\d+$/.test(name));
}

/** Why the maps of `layer` look as they do, when a picture alone would mislead: flat maps
 * (`layer_notes`), targets that are channels, output units without class names. */
export function layerNote(
  layer: string,
  notes: Record<string, string>,
  classes: readonly string[],
  units: number,
): string {
  if (notes[layer]) return notes[layer];
  if (layer !== OUTPUT) {
    return `Targets here are the layer's ${units} channels, which have no names: the slider ` +
      "orders them by how strongly this picture drives each (its summed activation), " +
      "strongest first; a map shows what drives the chosen channel.";
  }
  if (unnamed(classes)) {
    return "This model came without class names, so targets are its output units, most " +
      "probable first (give classes=[…] to models.as_lens_model to name them).";
  }
  return "";
}

/** The paper's finding, where the user compares the methods, with the numbers the
 * class-sensitivity chart measures on this picture once they are there. */
export function hintText(
  methods: readonly string[],
  sensitivity: Record<string, number>,
  styles: Record<string, MethodStyle>,
): string {
  const rectified = ["guided_backprop", "deconvnet"].filter((m) => methods.includes(m));
  if (!methods.includes("saliency") || rectified.length === 0) return "";
  const names = rectified.map((m) => methodLabel(styles, m)).join(" and ");
  const finding = `Nie et al. (2018): ${names} barely change with the class, ` +
    `${methodLabel(styles, "saliency")} does`;
  const measured = [...rectified, "saliency"].filter((m) => typeof sensitivity[m] === "number");
  if (measured.length < rectified.length + 1) {
    return `${finding}; the class-sensitivity chart below measures it once the top classes' ` +
      "maps are computed.";
  }
  const values = measured.map((m) => `${methodLabel(styles, m)} ${sensitivity[m].toFixed(2)}`);
  return `${finding}. Here, class sensitivity: ${values.join(", ")} (chart below); scrub the ` +
    "target to see it.";
}
