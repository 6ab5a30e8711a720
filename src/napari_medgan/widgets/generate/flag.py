"""The Generate dock's memorization flag: the Evaluate dock's verdict on the loaded checkpoint."""

from __future__ import annotations

from napari.utils.notifications import show_warning

from napari_medgan.napari_glue.session import memorization


class MemorizationFlag:
    """Shows ``self.flag`` (a QLabel) while the loaded checkpoint is flagged for copying
    training slices, and warns before a flagged checkpoint's output is used."""

    def _update_flag(self, *_args) -> None:
        reasons = memorization.reasons(self.sampler.path if self.sampler else None)
        self.flag.setText(
            "⚠ Evaluation flagged this checkpoint for copying training slices: "
            + "; ".join(reasons)
        )
        self.flag.setVisible(bool(reasons))

    def _warn_if_flagged(self, checkpoint) -> None:
        reasons = memorization.reasons(checkpoint)
        if reasons:
            show_warning(
                "This checkpoint may copy training slices (memorization test): "
                + "; ".join(reasons)
            )
