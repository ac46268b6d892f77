// The perturbation canvas, as pure functions: pointer positions to the model's input pixels, a
// round-brush path rasterised into a coverage buffer at input resolution (what the kernel's
// "stroke" message carries), and the captions of the perturbation panel. No DOM here: every rule
// is unit-tested in js/tests/canvas.test.ts.

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export const STROKE_MODES = ["brighten", "darken", "noise", "erase"] as const;
export type StrokeMode = (typeof STROKE_MODES)[number];

export const MODE_NAMES: Record<StrokeMode, string> = {
  brighten: "brighten",
  darken: "darken",
  noise: "add noise",
  erase: "eraser",
};

/** The "stroke" message (its one buffer is the coverage). */
export interface StrokeMessage {
  type: "stroke";
  mode: StrokeMode;
  strength: number;
  width: number;
  height: number;
}

/** A pointer at (clientX, clientY) over an element drawn in `box`, in input pixel units:
 * pixel (i, j) spans [i, i + 1) × [j, j + 1). */
export function toInput(
  clientX: number,
  clientY: number,
  box: Box,
  width: number,
  height: number,
): Point {
  return {
    x: ((clientX - box.left) / box.width) * width,
    y: ((clientY - box.top) / box.height) * height,
  };
}

/** The distance from `p` to the segment a–b (to a itself when a = b). */
export function segmentDistance(p: Point, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length2 = dx * dx + dy * dy;
  const t = length2 > 0 ? Math.min(Math.max(((p.x - a.x) * dx + (p.y - a.y) * dy) / length2, 0), 1) : 0;
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

/** The coverage (0–255 per pixel, row-major, width × height) of a round brush of `radius`
 * pixels dragged along `points`: full inside, a one-pixel soft edge, 0 outside. */
export function rasterise(points: readonly Point[], radius: number, width: number, height: number): Uint8Array {
  const cover = new Uint8Array(width * height);
  if (points.length === 0 || !(radius > 0)) return cover;
  const segments = points.length === 1 ? [[points[0], points[0]]] : points.slice(1).map((p, i) => [points[i], p]);
  const reach = radius + 0.5;
  for (const [a, b] of segments) {
    const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x) - reach));
    const x1 = Math.min(width - 1, Math.ceil(Math.max(a.x, b.x) + reach));
    const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y) - reach));
    const y1 = Math.min(height - 1, Math.ceil(Math.max(a.y, b.y) + reach));
    for (let j = y0; j <= y1; j++) {
      for (let i = x0; i <= x1; i++) {
        const d = segmentDistance({ x: i + 0.5, y: j + 0.5 }, a, b);
        const value = Math.round(255 * Math.min(Math.max(reach - d, 0), 1));
        if (value > cover[j * width + i]) cover[j * width + i] = value;
      }
    }
  }
  return cover;
}

export function covered(cover: Uint8Array): boolean {
  return cover.some((value) => value > 0);
}

/** The message and buffer for a stroke, or null when it covers no pixel of the image. */
export function strokeMessage(
  points: readonly Point[],
  radius: number,
  mode: StrokeMode,
  strength: number,
  width: number,
  height: number,
): { message: StrokeMessage; buffer: ArrayBuffer } | null {
  const cover = rasterise(points, radius, width, height);
  if (!covered(cover)) return null;
  return { message: { type: "stroke", mode, strength, width, height }, buffer: cover.buffer as ArrayBuffer };
}

/** How the similarity of a method's clean and perturbed maps reads under the compare row. */
export function similarityText(metric: string, value: number | undefined): string {
  return value === undefined ? `${metric} vs clean: computing…` : `${metric} vs clean = ${value.toFixed(2)}`;
}

/** What the amplified perturbation picture shows. */
export function perturbationText(largest: number): string {
  if (!(largest > 0)) return "no perturbation";
  return `perturbation: grey = none, full range = ±${largest.toFixed(1)} of 255 pixel steps`;
}
