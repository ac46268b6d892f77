import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  type ILensSettings,
  explorerCall,
  explorerNotebook,
  isImagePath,
  pathFromNotebook
} from '../labextension/src/notebook';

const KERNEL = { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' };
const schema = JSON.parse(
  readFileSync(join(__dirname, '..', 'labextension', 'schema', 'plugin.json'), 'utf8')
) as { properties: Record<string, { default: unknown }> };

describe('explorerNotebook', () => {
  it('holds the introduction, the import and the Explorer cell, on the given kernel', () => {
    const notebook = explorerNotebook(DEFAULT_SETTINGS, KERNEL);
    expect(notebook.metadata.kernelspec).toEqual(KERNEL);
    expect(notebook.cells.map(cell => cell.cell_type)).toEqual(['markdown', 'code', 'code']);
    const [intro, imports, explorer] = notebook.cells.map(cell => cell.source as string);
    for (const name of ['Saliency', 'DeconvNet', 'Guided backprop', 'Nie, Zhang & Patel']) {
      expect(intro).toContain(name);
    }
    expect(imports).toBe('from backprop_lens import Explorer');
    expect(explorer).toBe(
      'Explorer(\n' +
        '    model="efficientnet_lite0",\n' +
        '    methods=["saliency", "deconvnet", "guided_backprop"],\n' +
        '    top_k=10,\n' +
        '    encoding="png",\n' +
        ')'
    );
    for (const cell of notebook.cells.slice(1)) {
      expect(cell).toMatchObject({ outputs: [], execution_count: null });
    }
  });

  it('passes every setting and the image to the Explorer', () => {
    const settings: ILensSettings = {
      defaultModel: 'paper_cnn',
      methods: ['guided_backprop', 'saliency'],
      topK: 3,
      encoding: 'webp'
    };
    expect(explorerCall(settings, 'pics/it\'s "a" cat.png')).toBe(
      'Explorer(\n' +
        '    model="paper_cnn",\n' +
        '    image="pics/it\'s \\"a\\" cat.png",\n' +
        '    methods=["guided_backprop", "saliency"],\n' +
        '    top_k=3,\n' +
        '    encoding="webp",\n' +
        ')'
    );
  });

  it('uses the defaults the settings schema declares', () => {
    const declared = Object.fromEntries(
      Object.entries(schema.properties).map(([key, property]) => [key, property.default])
    );
    expect(declared).toEqual({ ...DEFAULT_SETTINGS });
  });
});

describe('pathFromNotebook', () => {
  it('is the image path relative to the notebook folder, the kernel working directory', () => {
    expect(pathFromNotebook('Untitled.ipynb', 'cat.png')).toBe('cat.png');
    expect(pathFromNotebook('a/b/Untitled1.ipynb', 'a/b/cat.png')).toBe('cat.png');
    expect(pathFromNotebook('a/Untitled.ipynb', 'a/photos/cat.png')).toBe('photos/cat.png');
    expect(pathFromNotebook('a/b/Untitled.ipynb', 'c/cat.png')).toBe('../../c/cat.png');
    expect(pathFromNotebook('Untitled.ipynb', 'my "pics"/ça.png')).toBe('my "pics"/ça.png');
  });
});

describe('isImagePath', () => {
  it('accepts the picture types the Explorer opens, in any case', () => {
    for (const name of ['a.png', 'b.JPG', 'c.jpeg', 'd.webp', 'e.bmp', 'f.gif', 'g.tif', 'h.TIFF']) {
      expect(isImagePath(`dir/${name}`)).toBe(true);
    }
  });

  it('refuses other files', () => {
    for (const name of ['a.svg', 'b.ipynb', 'png', 'c.png.txt', 'd']) {
      expect(isImagePath(name)).toBe(false);
    }
  });
});
