/**
 * What a new Backprop Lens notebook holds: pure functions of the user's settings (and of the
 * picture it opens), so that they can be tested without a browser.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import { PathExt } from '@jupyterlab/coreutils';
import { pythonString } from './pyliteral';

/** The settings under "Backprop Lens" (schema/plugin.json): what new notebooks pass to Explorer. */
export interface ILensSettings {
  /** A zoo name for `backprop_lens.models.load`. */
  defaultModel: string;
  /** Names from `backprop_lens.METHODS`, in the order the buttons show them. */
  methods: string[];
  /** How many of the best targets are precomputed when the image is set. */
  topK: number;
  /** How maps travel and are stored: lossless PNG, or smaller lossy WebP/JPEG. */
  encoding: 'png' | 'webp' | 'jpeg';
}

/**
 * The defaults: what `Explorer()` shows (EfficientNet-Lite0 and the paper's three methods). The
 * schema states the same values (a unit test keeps them equal).
 */
export const DEFAULT_SETTINGS: Readonly<ILensSettings> = Object.freeze({
  defaultModel: 'efficientnet_lite0',
  methods: ['saliency', 'deconvnet', 'guided_backprop'],
  topK: 10,
  encoding: 'png'
});

/** The kernel a new notebook names in its metadata, so that no front end asks for one. */
export interface IKernelInfo {
  name: string;
  display_name: string;
  language: string;
}

/** File types the Explorer opens (PIL reads them all; the browser shows the Explorer's PNG). */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.png',
  '.jpg',
  '.jpeg',
  '.webp',
  '.bmp',
  '.gif',
  '.tif',
  '.tiff'
];

export function isImagePath(path: string): boolean {
  return IMAGE_EXTENSIONS.includes(PathExt.extname(path).toLowerCase());
}

/**
 * The path of `target` as the notebook's kernel sees it: relative to the notebook's folder
 * (the kernel's working directory). Both paths are server paths ("a/b.png", no leading slash).
 */
export function pathFromNotebook(notebookPath: string, target: string): string {
  return PathExt.relative(PathExt.dirname(notebookPath), target);
}

/** The `Explorer(...)` call of the settings, one argument a line; `image` is a kernel path. */
export function explorerCall(settings: ILensSettings, image?: string): string {
  const args = [`model=${pythonString(settings.defaultModel)}`];
  if (image !== undefined) {
    args.push(`image=${pythonString(image)}`);
  }
  args.push(
    `methods=[${settings.methods.map(pythonString).join(', ')}]`,
    `top_k=${settings.topK}`,
    `encoding=${pythonString(settings.encoding)}`
  );
  return `Explorer(\n${args.map(arg => `    ${arg},`).join('\n')}\n)`;
}

export const INTRODUCTION = `# Backprop Lens

Three ways to ask an image classifier which pixels mattered, all by one backward pass:

- **Saliency**: the plain gradient of the class score with respect to the input.
- **DeconvNet**: at each ReLU, only the positive part of the signal coming back goes through.
- **Guided backprop**: both at once, the forward pass's ReLU mask and the positive signal.

Nie, Zhang & Patel ([ICML 2018](https://arxiv.org/abs/1805.07039)) showed that DeconvNet and
guided backprop mostly *recover the image*: their maps barely change with the class explained,
or when the network's weights are random, while saliency does change. Move the target and layer
sliders below and compare.`;

function markdownCell(source: string): nbformat.IMarkdownCell {
  return { cell_type: 'markdown', metadata: {}, source };
}

function codeCell(source: string): nbformat.ICodeCell {
  return { cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null };
}

/** The whole notebook: the introduction, the import and the Explorer cell. */
export function explorerNotebook(
  settings: ILensSettings,
  kernel: IKernelInfo,
  image?: string
): nbformat.INotebookContent {
  return {
    nbformat: 4,
    // 4.4: cells need no ids; JupyterLab writes 4.5 with ids when it saves.
    nbformat_minor: 4,
    metadata: {
      kernelspec: { ...kernel },
      language_info: { name: kernel.language }
    },
    cells: [
      markdownCell(INTRODUCTION),
      codeCell('from backprop_lens import Explorer'),
      codeCell(explorerCall(settings, image))
    ]
  };
}
