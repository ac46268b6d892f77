/**
 * The JupyterLab (and Notebook 7) extension of backprop-lens: a launcher card, a command in the
 * palette and in File → New, "Open in Backprop Lens" on pictures in the file browser, and the
 * settings those notebooks are made with. Each command is registered once, by id, and reused
 * by the launcher, the palette and the menus (the menus are declared in schema/plugin.json).
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import {
  type FileBrowser,
  IDefaultFileBrowser,
  IFileBrowserFactory
} from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookActions, type NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import iconSvg from '../style/icon.svg';
import {
  DEFAULT_SETTINGS,
  type IKernelInfo,
  type ILensSettings,
  explorerNotebook,
  isImagePath,
  pathFromNotebook
} from './notebook';
import { hasRunMark, markRunOnOpen, takeRunMark } from './runmark';

const PLUGIN_ID = 'backprop-lens:plugin';

/** The command ids (design.md §5): fixed, other code and users' shortcuts rely on them. */
export const CommandIDs = {
  newExplorer: 'backprop-lens:new-explorer',
  openImage: 'backprop-lens:open-image'
} as const;

export const lensIcon = new LabIcon({ name: 'backprop-lens:icon', svgstr: iconSvg });

/** The server's default kernel if it runs Python, otherwise its first Python kernel. */
async function pythonKernel(app: JupyterFrontEnd): Promise<IKernelInfo> {
  const manager = app.serviceManager.kernelspecs;
  await manager.ready;
  const specs = manager.specs;
  const names = specs ? [specs.default, ...Object.keys(specs.kernelspecs)] : [];
  for (const name of names) {
    const spec = specs?.kernelspecs[name];
    if (spec && spec.language.toLowerCase() === 'python') {
      return { name: spec.name, display_name: spec.display_name, language: spec.language };
    }
  }
  throw new Error('Backprop Lens needs a Python kernel, and this server offers none.');
}

/**
 * Write a new untitled notebook into `folder`, open it on a Python kernel and have it run when
 * its panel appears (see runmark.ts). `image` is a server path; the notebook gets it relative
 * to itself, the kernel's working directory.
 */
async function createExplorerNotebook(
  app: JupyterFrontEnd,
  folder: string,
  settings: ILensSettings,
  image?: string
): Promise<string> {
  const kernel = await pythonKernel(app);
  const contents = app.serviceManager.contents;
  const { path } = await contents.newUntitled({ path: folder, type: 'notebook' });
  const imageArg = image === undefined ? undefined : pathFromNotebook(path, image);
  await contents.save(path, {
    type: 'notebook',
    format: 'json',
    content: explorerNotebook(settings, kernel, imageArg)
  });
  markRunOnOpen(path);
  await app.commands.execute('docmanager:open', {
    path,
    factory: 'Notebook',
    kernel: { name: kernel.name }
  });
  return path;
}

/**
 * Run all cells of a notebook this extension just created, once its kernel is up, and save.
 * Only a panel that this page shows takes the mark: Notebook 7's tree page makes a panel too,
 * then disposes of it and opens the notebook in a new browser tab, whose panel must run it.
 */
async function runIfMarked(app: JupyterFrontEnd, panel: NotebookPanel): Promise<void> {
  const path = panel.context.path;
  if (!hasRunMark(path)) {
    return;
  }
  await panel.context.ready;
  await panel.sessionContext.ready;
  const shown = Array.from(app.shell.widgets('main')).includes(panel);
  if (panel.isDisposed || !shown || !takeRunMark(path)) {
    return;
  }
  await NotebookActions.runAll(panel.content, panel.sessionContext);
  await panel.context.save();
}

function activate(
  app: JupyterFrontEnd,
  palette: ICommandPalette | null,
  launcher: ILauncher | null,
  defaultBrowser: IDefaultFileBrowser | null,
  browserFactory: IFileBrowserFactory | null,
  registry: ISettingRegistry | null,
  notebooks: INotebookTracker | null
): void {
  // Read at each use, so that a change in the Settings Editor applies to the next notebook.
  const loaded: Promise<ISettingRegistry.ISettings | null> = registry
    ? registry.load(PLUGIN_ID).catch(reason => {
        console.error(`backprop-lens: settings not loaded, using the defaults: ${reason}`);
        return null;
      })
    : Promise.resolve(null);
  const current = async (): Promise<ILensSettings> => ({
    ...DEFAULT_SETTINGS,
    ...(((await loaded)?.composite ?? {}) as Partial<ILensSettings>)
  });

  // The browser the user is looking at (JupyterLab may show several), else the default one.
  const browser = (): FileBrowser | null =>
    browserFactory?.tracker.currentWidget ?? defaultBrowser ?? null;
  // The one picture selected in that browser, if that is what is selected.
  const selectedImage = (): string | undefined => {
    const current = browser();
    const selected = current ? Array.from(current.selectedItems()) : [];
    const [item] = selected;
    return selected.length === 1 && item.type !== 'directory' && isImagePath(item.path)
      ? item.path
      : undefined;
  };
  const folderOf = (args: ReadonlyPartialJSONObject, fallback: string): string =>
    typeof args.cwd === 'string' ? args.cwd : (browser()?.model.path ?? fallback);
  const reportFailure = (error: unknown): void => {
    void showErrorMessage('Backprop Lens', error as Error);
  };

  app.commands.addCommand(CommandIDs.newExplorer, {
    label: args => (args.isLauncher ? 'Backprop Lens' : 'New Backprop Lens Explorer'),
    caption: 'A new notebook with a Backprop Lens Explorer: saliency, DeconvNet, guided backprop',
    icon: lensIcon,
    execute: async args => {
      try {
        return await createExplorerNotebook(app, folderOf(args, ''), await current());
      } catch (error) {
        reportFailure(error);
      }
    }
  });

  app.commands.addCommand(CommandIDs.openImage, {
    label: 'Open in Backprop Lens',
    caption: 'A new notebook with a Backprop Lens Explorer of this picture',
    icon: lensIcon,
    isVisible: args =>
      typeof args.path === 'string' ? isImagePath(args.path) : selectedImage() !== undefined,
    execute: async args => {
      const image = typeof args.path === 'string' ? args.path : selectedImage();
      if (image === undefined) {
        return;
      }
      try {
        return await createExplorerNotebook(
          app,
          folderOf(args, PathExt.dirname(image)),
          await current(),
          image
        );
      } catch (error) {
        reportFailure(error);
      }
    }
  });

  palette?.addItem({ command: CommandIDs.newExplorer, category: 'Backprop Lens' });
  launcher?.add({
    command: CommandIDs.newExplorer,
    category: 'Notebook',
    rank: 10,
    // The Notebook section draws kernel icons from URLs, not LabIcons.
    kernelIconUrl: `data:image/svg+xml,${encodeURIComponent(iconSvg)}`,
    args: { isLauncher: true }
  });

  if (notebooks) {
    const run = (panel: NotebookPanel): void => {
      runIfMarked(app, panel).catch(reportFailure);
    };
    // Notebook 7 may open the notebook before this plugin starts: look at those too.
    notebooks.forEach(run);
    notebooks.widgetAdded.connect((_, panel) => run(panel));
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Backprop Lens: launcher card, commands, image context menu and settings.',
  autoStart: true,
  optional: [
    ICommandPalette,
    ILauncher,
    IDefaultFileBrowser,
    IFileBrowserFactory,
    ISettingRegistry,
    INotebookTracker
  ],
  activate
};

export default plugin;
