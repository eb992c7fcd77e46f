"""Training scripts that run as modules, e.g. under ``torchrun`` (chapter 12, ``12_scaling``)."""
