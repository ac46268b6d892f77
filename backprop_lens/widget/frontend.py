"""The built front end: the files ``npm run build`` puts into the package, which the widget
loads and exported pages inline."""

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


def static_path(name: str) -> Path:
    """A file the front-end build (``npm run build``) puts into the package: the bundle, and
    what exported pages inline (the loader, the widget manager, the icon font).

    Raises ``FileNotFoundError`` saying how to build it when it is missing."""
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the front end with `npm run build` "
                                "(or `make setup`) in the project folder")
    return path
