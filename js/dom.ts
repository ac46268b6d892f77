// The DOM helpers of the Explorer's view (./widget.ts, ./perturb.ts): elements with their
// `data-testid` hooks, and controls whose keys are their own inside JupyterLab and Notebook 7.

export function element<K extends keyof HTMLElementTagNameMap>(
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
export function ownKeys<T extends HTMLElement>(control: T): T {
  control.setAttribute("data-lm-suppress-shortcuts", "true");
  return control;
}

export function figure(img: HTMLElement, caption: HTMLElement): HTMLElement {
  const node = element("figure");
  node.append(img, caption);
  return node;
}

export function slider(id: string, text: string, testId: string) {
  const label = element("label", { htmlFor: id, textContent: text });
  const input = ownKeys(element("input", { id, type: "range", min: "0", step: "1" }, testId));
  const value = element("output");
  value.htmlFor.add(id);
  const row = element("div", { className: "bl-slider" });
  row.append(label, input, value);
  return { row, input, value };
}

export function button(text: string, testId?: string): HTMLButtonElement {
  return ownKeys(element("button", { type: "button", textContent: text }, testId));
}

export function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = element("label", { className: "bl-field", textContent: `${text} ` });
  label.append(control);
  return label;
}

export function range(min: number, max: number, value: number, testId?: string): HTMLInputElement {
  return ownKeys(element("input", {
    type: "range", min: String(min), max: String(max), step: "1", value: String(value),
  }, testId));
}

export function select(options: [string, string][], testId?: string): HTMLSelectElement {
  const node = ownKeys(element("select", {}, testId));
  node.append(...options.map(([value, text]) => element("option", { value, textContent: text })));
  return node;
}

/** Set `node`'s text only when it differs: a write, even of the same text, makes the page lay
 * itself out again, and the view redraws on every message. */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** Show `position` of `last + 1` positions on `control` (from `slider`), labelled `text`. */
export function setSlider(
  control: { input: HTMLInputElement; value: HTMLElement },
  last: number,
  position: number,
  text: string,
): void {
  const max = String(Math.max(last, 0));
  if (control.input.max !== max) control.input.max = max;
  if (control.input.value !== String(position)) control.input.value = String(position);
  setText(control.value, text);
  if (control.input.getAttribute("aria-valuetext") !== text) {
    control.input.setAttribute("aria-valuetext", text);
  }
}
