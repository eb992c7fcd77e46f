"""Training scripts that run as modules, e.g. under ``torchrun`` (chapter 11, ``11_scaling``)."""
