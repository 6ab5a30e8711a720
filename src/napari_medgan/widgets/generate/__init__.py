"""The Generate dock (:class:`.widget.GenerateWidget`), its sampling jobs, saving and export."""
