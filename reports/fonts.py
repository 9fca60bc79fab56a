"""One CJK font for every chart: Noto Sans CJK (OFL), shipped as a wheel, covers 汉字 and 한글."""

from __future__ import annotations

import functools

import matplotlib
from matplotlib import font_manager

matplotlib.use("Agg")


@functools.cache
def cjk_font_family() -> str:
    """Register the packaged Noto Sans CJK with matplotlib and return its family name."""
    import cvttf_NotoSansCJK_Regular as noto  # the wheel that carries the .otf

    path = noto.get_TTF_path()
    font_manager.fontManager.addfont(path)
    family = font_manager.FontProperties(fname=path).get_name()
    matplotlib.rcParams["font.family"] = [family, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return family
