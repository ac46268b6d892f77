// The parts of the view that explain what it shows: the centre crop under the input (a thumbnail
// of the whole picture and a sentence), the note under the sliders (flat maps, unnamed targets),
// the paper's finding under the compare row (hideable, by the `show_hint` trait), the attack's
// starting point beside the Attack button, and the methods' colours. Sentences come from
// ./notes.ts; everything shown comes from the synced state.
import { imageUrl } from "./codecs";
import { setText } from "./dom";
import { cropText, hintText, layerNote } from "./notes";
import { type LensState, type MethodStyle, ranked } from "./state";

export interface Annotations {
  /** Under the input picture. */
  crop: HTMLElement;
  /** Under the sliders. */
  layerNote: HTMLElement;
  /** Under the compare row. */
  hint: HTMLElement;
  /** Beside the Attack button: where an attack starts ("clean", the default, or "painted"). */
  attackStart: HTMLSelectElement;
  update(state: LensState): void;
  dispose(): void;
}

function node<K extends keyof HTMLElementTagNameMap>(
  tag: K, className: string, testId: string,
): HTMLElementTagNameMap[K] {
  const made = document.createElement(tag);
  made.className = className;
  made.setAttribute("data-testid", testId);
  return made;
}

/** Colours a method's button or caption with its colour (a swatch, see widget.css). */
export function paintMethod(
  el: HTMLElement, styles: Record<string, MethodStyle>, method: string,
): void {
  const colour = styles[method]?.colour;
  if (colour) el.style.setProperty("--bl-method-colour", colour);
  el.classList.toggle("bl-method", Boolean(colour));
}

/** The explaining parts; `showHint(show)` sets the `show_hint` trait. */
export function annotations(showHint: (show: boolean) => void): Annotations {
  const crop = node("figure", "bl-crop", "crop-note");
  const thumbnail = node("img", "bl-crop-picture", "crop-view");
  thumbnail.alt = "the whole picture; the part the model sees is outlined";
  const cropCaption = document.createElement("figcaption");
  crop.append(thumbnail, cropCaption);

  const note = node("div", "bl-note bl-layer-note", "layer-note");
  const hint = node("div", "bl-hint", "hint");
  const hintBody = document.createElement("span");
  const toggle = node("button", "bl-hint-toggle", "hint-toggle");
  toggle.type = "button";
  toggle.setAttribute("data-lm-suppress-shortcuts", "true");
  hint.append(hintBody, toggle);
  let shown = true;
  toggle.addEventListener("click", () => showHint(!shown));

  const attackStart = node("select", "", "attack-start");
  attackStart.setAttribute("data-lm-suppress-shortcuts", "true");
  attackStart.title = "what the attack perturbs: by default the clean image (the painting " +
    "goes, one Undo brings it back)";
  for (const [value, text] of [["clean", "from the clean image (default)"],
    ["painted", "from the painted image"]]) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = text;
    attackStart.append(option);
  }

  let pictureBytes: DataView | undefined;
  let pictureUrl = "";
  const update = (state: LensState) => {
    const text = cropText(state.crop, state.input_shape);
    setText(cropCaption, text);
    crop.hidden = text === "";
    if (state.crop.picture !== pictureBytes) {
      pictureBytes = state.crop.picture;
      if (pictureUrl) URL.revokeObjectURL(pictureUrl);
      pictureUrl = imageUrl(pictureBytes) ?? "";
      thumbnail.src = pictureUrl;
    }
    thumbnail.hidden = pictureUrl === "";

    const units = ranked(state, state.layer).length;
    setText(note, layerNote(state.layer, state.layer_notes, state.classes, units));
    note.hidden = note.textContent === "";

    shown = state.show_hint;
    const finding = hintText(state.methods, state.sensitivity, state.method_styles);
    setText(hintBody, shown ? finding : "");
    setText(toggle, shown ? "hide" : "show the paper's finding");
    hint.classList.toggle("bl-hint-hidden", !shown);
    hint.hidden = finding === "";
  };
  const dispose = () => {
    if (pictureUrl) URL.revokeObjectURL(pictureUrl);
  };
  return { crop, layerNote: note, hint, attackStart, update, dispose };
}
