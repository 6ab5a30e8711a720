"""The Train GAN dock (:class:`.widget.TrainWidget`) and its parts."""
