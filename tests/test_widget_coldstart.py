"""A fresh kernel's first map imports only what it needs (issue 16, "Fast from a cold kernel"):
``import backprop_lens`` and an Explorer's first map leave scipy, scikit-image, bqplot, pandas
and matplotlib unimported; the charts bring bqplot when they are built, after the first map. The
times themselves are measured by ``make benchmark-widget``, not here."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("scipy", "skimage", "bqplot", "pandas", "matplotlib", "pyarrow", "ray")

_SCRIPT = """
import json, sys
heavy = {heavy!r}
loaded = lambda: sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))
import backprop_lens
after_import = loaded()
import numpy as np
from backprop_lens import Explorer, models
spec = models.paper_cnn(n_filters=4, input_size=16, n_classes=3)
w = Explorer(model=spec, image=np.zeros((16, 16, 3), np.uint8), top_k=1)
first_map = bool(w.maps)
assert w.wait(60)
w._repr_mimebundle_()
after_first_map = loaded()
w.charts
print(json.dumps([after_import, first_map, after_first_map, loaded()]))
"""


def test_the_first_map_imports_nothing_heavy_and_the_charts_bring_bqplot() -> None:
    found = subprocess.run([sys.executable, "-c", _SCRIPT.format(heavy=HEAVY)], check=True,
                           capture_output=True, text=True, timeout=300)
    after_import, first_map, after_first_map, after_charts = json.loads(
        found.stdout.strip().splitlines()[-1])
    assert after_import == []
    assert first_map, "the first map is there when the constructor returns"
    assert after_first_map == [], "the first map (and display) must not wait for these"
    assert "bqplot" in after_charts
