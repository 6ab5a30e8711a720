"""The Evaluate GAN dock (:class:`.widget.EvaluateWidget`) and its results panel."""
