// The perturbation panel of the Explorer's view (./widget.ts): a brush (mode, size, strength)
// whose strokes the view paints on the input, Undo and Reset, and FGSM/PGD attacks. Its buttons
// send the kernel the commands of backprop_lens/widget/perturb_commands.py; what it shows is
// drawn from the synced state by `update`, and needs a running kernel to be used.
import { MODE_NAMES, perturbationText, STROKE_MODES } from "./canvas";
import { button, element, labelled, ownKeys, range, select, setText } from "./dom";
import { attackText } from "./notes";
import type { LensState } from "./state";

/** The panel, given the attack's start control (./annotations.ts), how to send the kernel a
 * message, and how to redraw the whole view. */
export function perturbPanel(
  attackStart: HTMLSelectElement,
  send: (message: Record<string, unknown>) => void,
  redraw: () => void,
) {
  const mode = select(STROKE_MODES.map((m) => [m, MODE_NAMES[m]]), "brush-mode");
  const brushSize = range(1, 16, 3, "brush-size");
  const strength = range(1, 128, 48, "brush-strength");
  const undo = button("Undo", "undo-button");
  const reset = button("Reset", "reset-button");
  const showPerturbation = ownKeys(element("input", { type: "checkbox" }, "show-perturbation"));
  const brushRow = element("div", { className: "bl-row" });
  brushRow.append(labelled("Brush", mode), labelled("size", brushSize), labelled("strength", strength),
    undo, reset, labelled("show perturbation", showPerturbation));
  const epsilon = range(1, 32, 8, "epsilon-slider");
  const epsilonValue = element("output");
  const attackMethod = select([["fgsm", "FGSM"], ["pgd", "PGD"]], "attack-method");
  const steps = ownKeys(element("input", { type: "number", min: "1", max: "100", value: "10" }, "attack-steps"));
  const attackTarget = select([["", "untargeted"]], "attack-target");
  const masked = ownKeys(element("input", { type: "checkbox" }, "attack-masked"));
  const attack = button("Attack", "attack-button");
  const cancel = button("Cancel", "cancel-button");
  const attackResult = element("span", { className: "bl-note" }, "attack-result");
  const attackRow = element("div", { className: "bl-row" });
  const epsilonField = labelled("ε (of 255)", epsilon);
  epsilonField.append(epsilonValue);
  attackRow.append(epsilonField, attackMethod, labelled("steps", steps), attackTarget,
    labelled("only painted region", masked), attackStart, attack, cancel, attackResult);
  const perturbNote = element("div", { className: "bl-note" }, "perturb-note");
  const perturb = element("div", { className: "bl-perturb", role: "group" }, "perturb-controls");
  perturb.setAttribute("aria-label", "Perturbation");
  perturb.append(brushRow, attackRow, perturbNote);
  const perturbControls = [mode, brushSize, strength, undo, reset, showPerturbation, epsilon,
    attackMethod, steps, attackTarget, masked, attackStart, attack, cancel];

  undo.addEventListener("click", () => send({ type: "undo" }));
  reset.addEventListener("click", () => send({ type: "reset" }));
  cancel.addEventListener("click", () => send({ type: "cancel" }));
  attack.addEventListener("click", () => {
    send({
      type: "attack",
      method: attackMethod.value,
      eps: epsilon.valueAsNumber,
      steps: steps.valueAsNumber,
      target: attackTarget.value === "" ? null : Number(attackTarget.value),
      masked: masked.checked,
      start: attackStart.value,
    });
  });
  epsilon.addEventListener("input", () => redraw());
  attackMethod.addEventListener("change", () => redraw());

  /** Shows `state`; `live`: whether a kernel is there to act on the controls. */
  const update = (state: LensState, live: boolean) => {
    for (const control of perturbControls) control.disabled = !live;
    if (live) {
      undo.disabled = state.undo_depth === 0 || state.attacking;
      reset.disabled = state.attacking;
      attack.disabled = state.attacking;
      cancel.hidden = !state.attacking;
      steps.disabled = attackMethod.value !== "pgd";
    }
    setText(perturbNote, live
      ? perturbationText(state.perturbation_scale)
      : "painting and attacks need a running kernel");
    setText(epsilonValue, epsilon.value);
    setText(attackResult, attackText(state.attack_report, state.classes));
    if (attackTarget.options.length !== state.classes.length + 1) {
      attackTarget.replaceChildren(element("option", { value: "", textContent: "untargeted" }),
        ...state.classes.map((name, i) =>
          element("option", { value: String(i), textContent: `toward ${name}` })));
    }
  };

  return { element: perturb, mode, brushSize, strength, showPerturbation, update };
}
