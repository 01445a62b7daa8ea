from __future__ import annotations

import numpy as np

from dcpt_sdk.degradations import degrade_array


def test_lines_are_black_or_white_and_the_rest_untouched(clean: np.ndarray) -> None:
    out = degrade_array(clean, "inpaint_lines", 0)
    changed = (out != clean).any(axis=2)
    assert 0.02 < changed.mean() < 0.5
    painted = out[changed]
    assert np.isin(painted, (0.0, 1.0)).all()
    assert (painted == painted[:, :1]).all()  # black or white, never coloured
    np.testing.assert_array_equal(out[~changed], clean[~changed])


def test_both_colours_occur() -> None:
    gray = np.full((128, 128, 3), 0.5, np.float32)
    seen = set()
    for seed in range(4):
        out = degrade_array(gray, "inpaint_lines", seed)
        seen |= set(np.unique(out).tolist())
    assert {0.0, 1.0} <= seen


def test_no_lines_no_change(clean: np.ndarray) -> None:
    np.testing.assert_array_equal(degrade_array(clean, "inpaint_lines", 0, lines=0), clean)


def test_thickness_sets_the_stroke_width() -> None:
    gray = np.full((200, 200, 3), 0.5, np.float32)
    thin = (degrade_array(gray, "inpaint_lines", 0, lines=1, thickness=3) != 0.5).any(axis=2)
    thick = (degrade_array(gray, "inpaint_lines", 0, lines=1, thickness=9) != 0.5).any(axis=2)
    assert thick.sum() > 2 * thin.sum()
